//! Which acks may retire events from the spool: only one a pinned collector ack key signed, for this
//! device, that moves forward and stays within what this box has sealed. Anything else is refused with
//! its reason and deletes nothing, so a forged ack can neither empty the spool nor, by claiming a huge
//! seq, make the box ignore the collector's real acks afterwards.

use wardwatch_protocol::{Ack, AckError, DeviceId, PinnedKeys};

/// Why an ack is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckRefused {
    /// Oversized, malformed, unsigned or not signed by a pinned key.
    #[error(transparent)]
    Wire(#[from] AckError),
    /// Signed, but for another device.
    #[error("ack for another device ({0})")]
    OtherDevice(DeviceId),
    /// Below what is already acknowledged.
    #[error("ack up to seq {got} goes backwards (already acknowledged up to {acked})")]
    Backwards {
        /// What the ack says.
        got: u64,
        /// What is in force.
        acked: u64,
    },
    /// Beyond the last event this box sealed.
    #[error("ack up to seq {got} is beyond this box's last sealed event {tip}")]
    BeyondTip {
        /// What the ack says.
        got: u64,
        /// The spool's tip.
        tip: u64,
    },
}

/// What the spool should do with a received ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckDecision {
    /// Retire everything up to this seq.
    Advance(u64),
    /// The ack in force again (a retained ack redelivered on reconnect): nothing to do.
    Unchanged,
}

/// Judges a received ack payload for `device`, given the acknowledged seq in force and the spool's tip.
pub fn judge_ack(
    payload: &[u8],
    pinned: &PinnedKeys,
    device: &DeviceId,
    acked: u64,
    tip: u64,
) -> Result<AckDecision, AckRefused> {
    let ack = Ack::from_signed_wire(payload, pinned)?;
    if &ack.device_id != device {
        return Err(AckRefused::OtherDevice(ack.device_id));
    }
    match ack.acked_seq {
        got if got == acked => Ok(AckDecision::Unchanged),
        got if got < acked => Err(AckRefused::Backwards { got, acked }),
        got if got > tip => Err(AckRefused::BeyondTip { got, tip }),
        got => Ok(AckDecision::Advance(got)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_protocol::{PublicKey, SigningKey};

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn device() -> DeviceId {
        "box-1".parse().expect("device id")
    }

    fn signed(seq: u64, by: &SigningKey) -> Vec<u8> {
        Ack::new(device(), seq).to_signed_wire(by)
    }

    #[test]
    fn only_a_pinned_forward_ack_within_the_tip_advances() {
        let pinned = PinnedKeys::one(PublicKey::of(&key(1)));
        let judge = |payload: &[u8]| judge_ack(payload, &pinned, &device(), 10, 50);
        assert_eq!(judge(&signed(20, &key(1))), Ok(AckDecision::Advance(20)));
        assert_eq!(judge(&signed(50, &key(1))), Ok(AckDecision::Advance(50)));
        assert_eq!(judge(&signed(10, &key(1))), Ok(AckDecision::Unchanged));
        assert_eq!(
            judge(&Ack::new(device(), u64::MAX).wire(None)),
            Err(AckRefused::Wire(AckError::Unsigned(u64::MAX)))
        );
        assert_eq!(
            judge(&signed(u64::MAX, &key(2))),
            Err(AckRefused::Wire(AckError::BadSignature(u64::MAX)))
        );
        assert_eq!(
            judge(&signed(9, &key(1))),
            Err(AckRefused::Backwards { got: 9, acked: 10 })
        );
        assert_eq!(
            judge(&signed(51, &key(1))),
            Err(AckRefused::BeyondTip { got: 51, tip: 50 })
        );
        let other = Ack::new("box-2".parse().expect("id"), 20).to_signed_wire(&key(1));
        assert!(matches!(judge(&other), Err(AckRefused::OtherDevice(_))));
    }

    #[test]
    fn rotation_old_and_new_key_accepted_then_the_removed_key_refused() {
        let (old, new) = (key(1), key(2));
        let rotating =
            PinnedKeys::new(vec![PublicKey::of(&old), PublicKey::of(&new)]).expect("two");
        assert_eq!(
            judge_ack(&signed(5, &old), &rotating, &device(), 0, 9),
            Ok(AckDecision::Advance(5))
        );
        assert_eq!(
            judge_ack(&signed(7, &new), &rotating, &device(), 5, 9),
            Ok(AckDecision::Advance(7))
        );
        let rotated = PinnedKeys::one(PublicKey::of(&new));
        assert_eq!(
            judge_ack(&signed(8, &old), &rotated, &device(), 7, 9),
            Err(AckRefused::Wire(AckError::BadSignature(8)))
        );
        assert_eq!(
            judge_ack(&signed(8, &new), &rotated, &device(), 7, 9),
            Ok(AckDecision::Advance(8))
        );
    }
}
