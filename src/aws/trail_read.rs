//! Reading CloudTrail for `bucketwarden doctor`: the trails an account sees, whether each is
//! logging, and its event selectors (basic and advanced), as plain facts. Owns the reads only;
//! whether they cover the watched calls is judged in `commands::doctor::trail`.

use crate::aws::error::{from_sdk, AwsError};

/// One basic event selector (`EventSelectors`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BasicSelector {
    /// `ReadOnly`, `WriteOnly` or `All` (AWS's default when absent: `All`).
    pub read_write_type: String,
    /// AWS's default when absent: true.
    pub include_management_events: bool,
    /// Data resources: (type, values), e.g. ("AWS::S3::Object", ["arn:aws:s3"]).
    pub data_resources: Vec<(String, Vec<String>)>,
}

/// One field condition of an advanced event selector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    pub field: String,
    pub equals: Vec<String>,
    pub starts_with: Vec<String>,
    pub ends_with: Vec<String>,
    pub not_equals: Vec<String>,
    pub not_starts_with: Vec<String>,
    pub not_ends_with: Vec<String>,
}

/// One advanced event selector: its field conditions all hold for an event it logs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdvancedSelector {
    pub name: String,
    pub fields: Vec<FieldSelector>,
}

/// A trail's selectors.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selectors {
    pub basic: Vec<BasicSelector>,
    pub advanced: Vec<AdvancedSelector>,
}

/// One trail and what could be read of it.
#[derive(Debug)]
pub struct TrailFacts {
    pub name: String,
    pub arn: String,
    pub home_region: String,
    pub multi_region: bool,
    pub logging: Result<bool, AwsError>,
    pub selectors: Result<Selectors, AwsError>,
}

/// The trails the account sees in the client's region (shadow trails of multi-region trails
/// included), each with its status and selectors.
pub async fn read_trails(client: &aws_sdk_cloudtrail::Client) -> Result<Vec<TrailFacts>, AwsError> {
    let trails = client
        .describe_trails()
        .include_shadow_trails(true)
        .send()
        .await
        .map_err(|e| from_sdk("cloudtrail", "DescribeTrails", e))?;
    let mut out = Vec::new();
    for t in trails.trail_list() {
        let name = t.name().unwrap_or_default().to_owned();
        let arn = t.trail_arn().unwrap_or(&name).to_owned();
        let logging = client
            .get_trail_status()
            .name(&arn)
            .send()
            .await
            .map(|s| s.is_logging().unwrap_or(false))
            .map_err(|e| from_sdk("cloudtrail", "GetTrailStatus", e));
        let selectors = client
            .get_event_selectors()
            .trail_name(&arn)
            .send()
            .await
            .map(|r| selectors_of(&r))
            .map_err(|e| from_sdk("cloudtrail", "GetEventSelectors", e));
        out.push(TrailFacts {
            name,
            arn,
            home_region: t.home_region().unwrap_or_default().to_owned(),
            multi_region: t.is_multi_region_trail().unwrap_or(false),
            logging,
            selectors,
        });
    }
    Ok(out)
}

fn selectors_of(
    r: &aws_sdk_cloudtrail::operation::get_event_selectors::GetEventSelectorsOutput,
) -> Selectors {
    let basic = r
        .event_selectors()
        .iter()
        .map(|s| BasicSelector {
            read_write_type: s
                .read_write_type()
                .map_or("All".to_owned(), |t| t.as_str().to_owned()),
            include_management_events: s.include_management_events().unwrap_or(true),
            data_resources: s
                .data_resources()
                .iter()
                .map(|d| {
                    (
                        d.r#type().unwrap_or_default().to_owned(),
                        d.values().to_vec(),
                    )
                })
                .collect(),
        })
        .collect();
    let advanced = r
        .advanced_event_selectors()
        .iter()
        .map(|s| AdvancedSelector {
            name: s.name().unwrap_or_default().to_owned(),
            fields: s
                .field_selectors()
                .iter()
                .map(|f| FieldSelector {
                    field: f.field().to_owned(),
                    equals: f.equals().to_vec(),
                    starts_with: f.starts_with().to_vec(),
                    ends_with: f.ends_with().to_vec(),
                    not_equals: f.not_equals().to_vec(),
                    not_starts_with: f.not_starts_with().to_vec(),
                    not_ends_with: f.not_ends_with().to_vec(),
                })
                .collect(),
        })
        .collect();
    Selectors { basic, advanced }
}
