//! The decision transcript line (docs/DESIGN.md §5): one JSON object per applied watched event and
//! affected bucket or object. Owns the wire shape only; `schemas/transcript-line.schema.json`
//! is its contract.

use serde::{Deserialize, Serialize};

use crate::core::decision::Action;
use crate::core::fold::{Note, Outcome, Transition};
use crate::core::record::S3Event;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExposureLabel {
    Public,
    NotPublic,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub event_id: Option<String>,
    pub event_time: String,
    pub event_name: String,
    pub account: String,
    pub region: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub exposure: ExposureLabel,
    pub transition: Transition,
    pub action: Action,
    pub reasons: Vec<String>,
    pub note: Option<Note>,
    /// Record fields of the wrong type, or taken from a second source (`field:problem`); the
    /// event was decided anyway. Omitted when empty, so the line is unchanged for sound records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Line {
    pub fn new(ev: &S3Event, outcome: Outcome, action: Action) -> Line {
        Line {
            event_id: ev.event_id.clone(),
            event_time: ev.event_time.clone(),
            event_name: ev.event_name.as_str().to_owned(),
            account: ev.account.clone(),
            region: ev.region.clone(),
            bucket: outcome.bucket,
            key: outcome.key,
            exposure: if outcome.exposure.public {
                ExposureLabel::Public
            } else {
                ExposureLabel::NotPublic
            },
            transition: outcome.transition,
            action,
            reasons: outcome.exposure.reasons,
            note: outcome.note,
            warnings: ev.oddities.iter().map(|o| o.label()).collect(),
        }
    }

    /// One line of JSON, without the trailing newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a transcript line always serialises")
    }
}
