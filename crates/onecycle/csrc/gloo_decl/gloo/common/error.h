// Declarations only (see ../../README): ProcessGroupGloo.hpp includes it; onecycle needs nothing from it.
#pragma once
