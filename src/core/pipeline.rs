//! The one pipeline shared by replay and the live consumer: record bytes → classification →
//! fold → decision lines, with counters. Pure: sources, sinks and effects belong to callers.

use std::collections::BTreeMap;

use crate::config::Config;
use crate::core::decision::{Action, Decider, PatternError, Situation, Source, Trigger};
use crate::core::fold::{Fold, Note, Transition};
use crate::core::record::{self, Classified, EventName, S3Event, Skip};
use crate::core::transcript::Line;

/// Counters over everything the pipeline saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub records: u64,
    pub malformed: u64,
    pub skipped: BTreeMap<Skip, u64>,
    pub events: BTreeMap<EventName, u64>,
    pub lines: u64,
    pub notes: BTreeMap<Note, u64>,
    pub transitions: BTreeMap<Transition, u64>,
    pub actions: BTreeMap<Action, u64>,
    /// Oddities of applied events, by field (`record::ODDITY_FIELDS`).
    pub oddities: BTreeMap<&'static str, u64>,
}

impl Stats {
    pub fn events_total(&self) -> u64 {
        self.events.values().sum()
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    pub fn oddities_total(&self) -> u64 {
        self.oddities.values().sum()
    }
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Processed {
    Skipped(Skip),
    Malformed(String),
    Applied {
        event: Box<S3Event>,
        lines: Vec<Line>,
    },
}

pub struct Pipeline {
    fold: Fold,
    decider: Decider,
    stats: Stats,
}

impl Pipeline {
    /// `force_dry_run` (the `--dry-run` flag) overrides the config's mode.
    pub fn new(config: &Config, force_dry_run: bool) -> Result<Pipeline, PatternError> {
        Ok(Pipeline {
            fold: Fold::new(config.dedup.window_ms()),
            decider: Decider::from_config(config, force_dry_run)?,
            stats: Stats::default(),
        })
    }

    /// The live consumer's pipeline: duplicates are decided by the fleet's dedup table.
    pub fn new_live(config: &Config) -> Result<Pipeline, PatternError> {
        let mut p = Pipeline::new(config, false)?;
        p.fold = Fold::new(config.dedup.window_ms()).without_dedup();
        Ok(p)
    }

    /// Lines for an event the fleet has already processed.
    pub fn duplicate(&mut self, event: &S3Event) -> Vec<Line> {
        *self.stats.events.entry(event.event_name).or_default() += 1;
        let outcomes = self.fold.duplicate(event);
        self.lines_for(event, outcomes)
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn fold(&self) -> &Fold {
        &self.fold
    }

    pub fn fold_mut(&mut self) -> &mut Fold {
        &mut self.fold
    }

    pub fn decider(&self) -> &Decider {
        &self.decider
    }

    /// Counts a record the caller could not even split out of its input.
    pub fn count_malformed(&mut self) {
        self.stats.records += 1;
        self.stats.malformed += 1;
    }

    /// Counts records classified elsewhere (the live worker classifies outside the lock):
    /// `records` skipped or events, of which `skipped` were skipped, by reason.
    pub fn count_classified(&mut self, records: u64, skipped: &[(Skip, u64)]) {
        self.stats.records += records;
        for (skip, n) in skipped {
            *self.stats.skipped.entry(*skip).or_default() += n;
        }
    }

    pub fn process(&mut self, bytes: &[u8]) -> Processed {
        self.stats.records += 1;
        match record::classify(bytes) {
            Classified::Skipped(skip) => {
                *self.stats.skipped.entry(skip).or_default() += 1;
                Processed::Skipped(skip)
            }
            Classified::Malformed(reason) => {
                self.stats.malformed += 1;
                Processed::Malformed(reason)
            }
            Classified::Event(event) => {
                let lines = self.apply(&event);
                Processed::Applied { event, lines }
            }
        }
    }

    /// Folds one typed event and decides on each outcome.
    pub fn apply(&mut self, event: &S3Event) -> Vec<Line> {
        *self.stats.events.entry(event.event_name).or_default() += 1;
        for o in &event.oddities {
            *self.stats.oddities.entry(o.field).or_default() += 1;
        }
        let outcomes = self.fold.apply(event);
        self.lines_for(event, outcomes)
    }

    fn lines_for(
        &mut self,
        event: &S3Event,
        outcomes: Vec<crate::core::fold::Outcome>,
    ) -> Vec<Line> {
        let mut lines = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            let (tags, set_by) = outcome
                .bucket
                .as_deref()
                .and_then(|b| self.fold.bucket(b))
                .map(|b| (b.tags(), b.tags_set_by()))
                .unwrap_or((&[], None));
            let action = self
                .decider
                .decide(&Situation {
                    trigger: Trigger::Event(outcome.transition),
                    bucket: outcome.bucket.as_deref(),
                    tags,
                    tags_set_by: set_by,
                    actor: event.actor_arn.as_deref(),
                    source: Source::Stream,
                })
                .action;
            // An exempting tag that was ignored is reported with the decision it changed.
            let ignored_tag = if outcome.transition == Transition::BecamePublic {
                self.decider
                    .exemption(outcome.bucket.as_deref(), tags, set_by)
                    .reasons()
            } else {
                Vec::new()
            };
            self.stats.lines += 1;
            *self
                .stats
                .transitions
                .entry(outcome.transition)
                .or_default() += 1;
            *self.stats.actions.entry(action).or_default() += 1;
            if let Some(note) = outcome.note {
                *self.stats.notes.entry(note).or_default() += 1;
            }
            let mut line = Line::new(event, outcome, action);
            line.reasons.extend(ignored_tag);
            lines.push(line);
        }
        lines
    }
}
