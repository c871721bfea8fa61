//! Manual point entries (合格党员积分). Attendance points are not stored: they are derived.

use serde::{Deserialize, Serialize};

use crate::{AccountId, Code, Date, MemberId, Prose, Voided};

/// A whole, non-zero number of points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct PointDelta(i32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeltaError {
    #[error("分值不能为 0")]
    Zero,
    #[error("分值 {0} 超出范围（-1000 到 1000）")]
    OutOfRange(i64),
}

impl PointDelta {
    pub fn new(delta: i64) -> Result<Self, DeltaError> {
        match delta {
            0 => Err(DeltaError::Zero),
            -1000..=1000 => Ok(Self(delta as i32)),
            _ => Err(DeltaError::OutOfRange(delta)),
        }
    }
    pub fn get(self) -> i32 {
        self.0
    }
}

impl TryFrom<i64> for PointDelta {
    type Error = DeltaError;
    fn try_from(d: i64) -> Result<Self, DeltaError> {
        Self::new(d)
    }
}
impl From<PointDelta> for i64 {
    fn from(d: PointDelta) -> i64 {
        i64::from(d.0)
    }
}

/// An award or deduction by a catalog rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointEntry {
    pub member_id: MemberId,
    pub rule: Code,
    pub delta: PointDelta,
    pub on: Date,
    #[serde(default)]
    pub note: Option<Prose>,
    pub by: AccountId,
    #[serde(default)]
    pub voided: Option<Voided>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_absurd_deltas_are_refused() {
        assert_eq!(PointDelta::new(0), Err(DeltaError::Zero));
        assert_eq!(DeltaError::Zero.to_string(), "分值不能为 0");
        assert!(PointDelta::new(1001).is_err());
        assert_eq!(PointDelta::new(-20).map(PointDelta::get), Ok(-20));
    }
}
