//! The watched calls as doctor needs them: which are S3 management events and which S3 data
//! events (object-level, logged only when a trail selects data events), taken from the code's
//! own list, `EventName::ALL`. Pure.

use crate::core::event_name::EventName;

/// Whether CloudTrail records `e` as an S3 data event (object-level API), not a management event.
/// AWS (Logging data events): data events are "resource operations performed on or within a
/// resource", for S3 "object-level API activity (for example, GetObject, DeleteObject, and
/// PutObject API operations) on buckets and objects in buckets".
pub fn is_data_event(e: EventName) -> bool {
    e == EventName::PutObjectAcl || e.is_object_write()
}

/// The watched management events, in `EventName::ALL`'s order.
pub fn management_events() -> Vec<EventName> {
    EventName::ALL
        .into_iter()
        .filter(|e| !is_data_event(*e))
        .collect()
}

/// The watched data events, in `EventName::ALL`'s order.
pub fn data_events() -> Vec<EventName> {
    EventName::ALL
        .into_iter()
        .filter(|e| is_data_event(*e))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_covers_every_watched_call_once_and_object_acls_are_data_events() {
        let (m, d) = (management_events(), data_events());
        assert_eq!(m.len() + d.len(), EventName::ALL.len());
        assert!(d.contains(&EventName::PutObjectAcl));
        assert!(d.contains(&EventName::PutObject));
        assert!(m.contains(&EventName::PutBucketAcl));
        assert!(m.contains(&EventName::PutAccountPublicAccessBlock));
    }
}
