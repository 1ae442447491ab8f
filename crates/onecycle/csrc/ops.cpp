// ATen calls that tch 0.24 does not expose: the scaled in-place updates PyTorch's optimizers use
// (`add_(other, alpha)` is one fused multiply-add per element; two tch calls round twice).
// Each returns NULL on success or a malloc'd error message the caller frees.
#include <ATen/ATen.h>

#include "guard.h"

using oc::guard;

extern "C" {
// self += alpha * other
char* oc_add_scaled_(at::Tensor* self, const at::Tensor* other, double alpha) {
  return guard([&] { self->add_(*other, alpha); });
}
// self += value * t1 * t2
char* oc_addcmul_(at::Tensor* self, const at::Tensor* t1, const at::Tensor* t2, double value) {
  return guard([&] { self->addcmul_(*t1, *t2, value); });
}
// self += value * t1 / t2
char* oc_addcdiv_(at::Tensor* self, const at::Tensor* t1, const at::Tensor* t2, double value) {
  return guard([&] { self->addcdiv_(*t1, *t2, value); });
}
// returns a + alpha * b as a new tensor written to *out
char* oc_add_scaled(at::Tensor** out, const at::Tensor* a, const at::Tensor* b, double alpha) {
  return guard([&] { *out = new at::Tensor(a->add(*b, alpha)); });
}
void oc_free(char* p) { free(p); }
}
