//! Parameter checks shared by the constructors; each error message names the field.

use crate::ScheduleError;

/// Shorthand for an `Invalid` error with a formatted message.
pub(crate) fn invalid(msg: impl Into<String>) -> ScheduleError {
    ScheduleError::Invalid(msg.into())
}

/// The schedule must have at least one step.
pub(crate) fn steps(n: usize) -> Result<(), ScheduleError> {
    if n >= 1 {
        Ok(())
    } else {
        Err(invalid(format!("steps must be at least 1, got {n}")))
    }
}

/// Learning rates, divisors and factors: finite and strictly positive.
pub(crate) fn positive(name: &str, v: f64) -> Result<f64, ScheduleError> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(invalid(format!(
            "{name} must be a finite number > 0, got {v}"
        )))
    }
}

/// Values that may be zero (a floor learning rate): finite and not negative.
pub(crate) fn non_negative(name: &str, v: f64) -> Result<f64, ScheduleError> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(invalid(format!(
            "{name} must be a finite number >= 0, got {v}"
        )))
    }
}

/// A fraction of training strictly inside (0, 1).
pub(crate) fn fraction(name: &str, v: f64) -> Result<f64, ScheduleError> {
    if v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err(invalid(format!("{name} must be in (0, 1), got {v}")))
    }
}

/// A momentum (or β1) value in [0, 1); `name` is the field, e.g. `momentum` or `moms[1]`.
pub(crate) fn momentum(name: &str, v: f64) -> Result<f64, ScheduleError> {
    if (0.0..1.0).contains(&v) {
        Ok(v)
    } else if name == "momentum" {
        Err(invalid(format!("momentum must be in [0, 1), got {v}")))
    } else {
        Err(invalid(format!(
            "{name} must be a momentum in [0, 1), got {v}"
        )))
    }
}

/// An optional constant momentum.
pub(crate) fn opt_momentum(v: Option<f64>) -> Result<Option<f64>, ScheduleError> {
    v.map(|m| momentum("momentum", m)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_parameter_and_the_value() {
        assert_eq!(
            steps(0).unwrap_err().to_string(),
            "steps must be at least 1, got 0"
        );
        assert_eq!(
            positive("max_lr", f64::NAN).unwrap_err().to_string(),
            "max_lr must be a finite number > 0, got NaN"
        );
        assert_eq!(
            fraction("pct_start", 1.3).unwrap_err().to_string(),
            "pct_start must be in (0, 1), got 1.3"
        );
        assert_eq!(
            momentum("momentum", 1.5).unwrap_err().to_string(),
            "momentum must be in [0, 1), got 1.5"
        );
        assert_eq!(
            momentum("moms[1]", -0.1).unwrap_err().to_string(),
            "moms[1] must be a momentum in [0, 1), got -0.1"
        );
        assert!(non_negative("min_lr", -1.0).is_err());
        assert_eq!(non_negative("min_lr", 0.0), Ok(0.0));
    }
}
