//! Image data and models for onecycle (datasets, augmentation, loader, models): in progress.
