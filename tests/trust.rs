//! Trust boundaries on a live fleet (docs/SECURITY.md), real worker processes against moto:
//! exemptions only from authorised tag setters, and a forged protective record that must not keep
//! a real public ACL from being remediated. Records are put on the stream directly, as anyone
//! allowed `kinesis:PutRecord` on it could.

mod support;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use support::*;

const LONG: Duration = Duration::from_secs(60);
const ADMIN_ROLE: &str = "arn:aws:iam::123456789012:role/platform-admin";
const ALLOW: &str = "bucketwarden:allow-public";

fn ts(base: i64, offset_s: i64) -> String {
    bucketwarden::core::time::format_millis(base + offset_s * 1000)
}

fn base_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond() - 60_000
}

fn create_bucket_event(bucket: &str, time: &str, event_id: &str) -> Value {
    eventbridge(
        "CreateBucket",
        Some(bucket),
        json!({"bucketName": bucket, "Host": "s3.us-east-1.amazonaws.com", "x-amz-object-ownership": "ObjectWriter"}),
        time,
        event_id,
    )
}

fn unblock_event(bucket: &str, time: &str, event_id: &str) -> Value {
    eventbridge(
        "DeleteBucketPublicAccessBlock",
        Some(bucket),
        json!({"bucketName": bucket, "publicAccessBlock": ""}),
        time,
        event_id,
    )
}

/// PutBucketTagging with the exempting tag, made by `actor` (a `userIdentity.arn`; an assumed
/// role's session is recorded as `arn:aws:sts::<account>:assumed-role/<role>/<session>`).
fn allow_public_tag_event(bucket: &str, time: &str, event_id: &str, actor: Option<&str>) -> Value {
    let mut ev = eventbridge(
        "PutBucketTagging",
        Some(bucket),
        json!({"bucketName": bucket, "tagging": "", "Tagging": {"TagSet": {"Tag": {"Key": ALLOW, "Value": "true"}}}}),
        time,
        event_id,
    );
    if let Some(arn) = actor {
        ev["detail"]["userIdentity"] = json!({
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLEADMIN:jane",
            "arn": arn,
            "accountId": ACCOUNT,
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": ADMIN_ROLE, "accountId": ACCOUNT, "userName": "platform-admin"}}
        });
    }
    ev
}

fn reasons(item: &std::collections::HashMap<String, AttributeValue>) -> Vec<String> {
    item.get("reasons")
        .and_then(|v| v.as_l().ok())
        .map(|l| l.iter().filter_map(|x| x.as_s().ok().cloned()).collect())
        .unwrap_or_default()
}

async fn tag(f: &Fleet, bucket: &str) {
    let tagging = aws_sdk_s3::types::Tagging::builder()
        .tag_set(
            aws_sdk_s3::types::Tag::builder()
                .key(ALLOW)
                .value("true")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    f.clients
        .s3
        .put_bucket_tagging()
        .bucket(bucket)
        .tagging(tagging)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exemption_tag_counts_only_when_an_authorised_identity_set_it() {
    let extra = format!(
        "[exemptions]\ntags = {{ \"{ALLOW}\" = \"true\" }}\ntag_setters = [\"{ADMIN_ROLE}\"]\n"
    );
    let f = Fleet::new("tagset", 1, &extra).await;
    let by_admin = f.bucket("admin");
    let by_other = f.bucket("other");
    let t = base_ms();
    // Both buckets really are public and carry the tag; only who set it differs.
    for (i, b) in [&by_admin, &by_other].into_iter().enumerate() {
        f.make_public_bucket(b).await;
        tag(&f, b).await;
        let actor =
            (i == 0).then_some("arn:aws:sts::123456789012:assumed-role/platform-admin/jane");
        let o = i as i64 * 10;
        let p = format!("ev-{i}");
        for ev in [
            create_bucket_event(b, &ts(t, o), &format!("{p}-create")),
            allow_public_tag_event(b, &ts(t, o + 1), &format!("{p}-tag"), actor),
            unblock_event(b, &ts(t, o + 2), &format!("{p}-unblock")),
            put_bucket_acl_public(b, &format!("{p}-acl"), &ts(t, o + 3)),
        ] {
            f.put_event(b, &ev).await;
        }
    }
    let w = f.spawn_worker("w1", &[]);
    wait_for("the other identity's bucket blocked", LONG, || async {
        f.block_of(&by_other).await == Some((true, true, true, true))
    })
    .await;
    wait_for("two incidents", LONG, || async {
        f.incidents().await.len() == 2
    })
    .await;
    wait_for("two alerts", LONG, || async { f.alerts().await.len() == 2 }).await;
    let incidents = f.incidents().await;
    let of = |b: &str| {
        incidents
            .iter()
            .find(|i| s(i, "bucket") == b)
            .unwrap_or_else(|| panic!("no incident for {b}: {incidents:?}\n{}", w.log_text()))
    };
    // Tagged by a session of the authorised role: exempt, alerted, left open.
    let admin = of(&by_admin);
    assert_eq!(s(admin, "action"), "alert", "{}", w.log_text());
    assert_eq!(s(admin, "outcome"), "alerted");
    assert!(!reasons(admin).iter().any(|r| r.starts_with("exemption:")));
    assert_ne!(f.block_of(&by_admin).await, Some((true, true, true, true)));
    // Tagged by mallory: the tag is ignored, the bucket locked down, and the alert says why.
    let other = of(&by_other);
    assert_eq!(s(other, "action"), "remediate", "{}", w.log_text());
    assert_eq!(s(other, "outcome"), "remediated");
    let why = reasons(other);
    assert!(
        why.contains(&"exemption:unauthorised-tag".to_owned()),
        "{why:?}"
    );
    assert!(
        why.contains(&format!(
            "exemption:tag-set-by:arn:aws:iam::{ACCOUNT}:user/mallory"
        )),
        "{why:?}"
    );
    let alerts = f.alerts().await;
    let alert = alerts
        .iter()
        .find(|(_, m)| m["bucket"] == by_other.as_str())
        .expect("an alert for the remediated bucket");
    assert_eq!(alert.1["outcome"], "remediated");
    assert!(
        alert.1["reasons"]
            .as_array()
            .unwrap()
            .contains(&json!("exemption:unauthorised-tag")),
        "{alert:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_protective_record_does_not_keep_a_public_acl_open() {
    // The record stream is the boundary: a PutBucketPublicAccessBlock that was never made to S3
    // (IgnorePublicAcls and RestrictPublicBuckets on, BlockPublicAcls off), dated just before a
    // real public-read. The fold judges the ACL ignored; only the masked note brings the live
    // read in, which finds the bucket public.
    let f = Fleet::new("masked", 1, "").await;
    let b = f.bucket("masked");
    f.make_public_bucket(&b).await;
    let t = base_ms();
    let forged = eventbridge(
        "PutBucketPublicAccessBlock",
        Some(&b),
        json!({"bucketName": b, "publicAccessBlock": "", "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": false, "IgnorePublicAcls": true, "BlockPublicPolicy": false, "RestrictPublicBuckets": true}}),
        &ts(t, 2),
        "ev-forged-block",
    );
    for ev in [
        create_bucket_event(&b, &ts(t, 0), "ev-mcreate"),
        unblock_event(&b, &ts(t, 1), "ev-munblock"),
        forged,
        put_bucket_acl_public(&b, "ev-macl", &ts(t, 3)),
    ] {
        f.put_event(&b, &ev).await;
    }
    let w = f.spawn_worker("w1", &[]);
    wait_for(
        "the bucket blocked despite the forged record",
        LONG,
        || async { f.block_of(&b).await == Some((true, true, true, true)) },
    )
    .await;
    // The block lands between the incident's `pending` record and its outcome: wait for the
    // outcome, not only the row.
    wait_for("its incident, finished", LONG, || async {
        let incidents = f.incidents().await;
        incidents.len() == 1 && s(&incidents[0], "outcome") != "pending"
    })
    .await;
    let incidents = f.incidents().await;
    let i = &incidents[0];
    assert_eq!(s(i, "eventId"), "ev-macl", "{}", w.log_text());
    assert_eq!(s(i, "action"), "remediate");
    assert_eq!(s(i, "outcome"), "remediated");
    assert!(
        reasons(i).contains(&"acl:AllUsers:READ".to_owned()),
        "{i:?}"
    );
}

/// Reconciliation reads tags live, which says nothing about who set them: on a server of this
/// test alone (a pass lists the whole account), a tagged public bucket whose setter the fleet
/// never saw is remediated with the reason and its fix; one whose same tag set the fleet saw an
/// authorised session set stays exempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_honours_a_tag_only_when_the_fleet_saw_an_authorised_setter() {
    use bucketwarden::aws::alerter::Alerter;
    use bucketwarden::aws::incident::IncidentTable;
    use bucketwarden::aws::s3_fix::S3Remediator;
    use bucketwarden::aws::state_store::StateStore;
    use bucketwarden::commands::reconcile;
    use bucketwarden::config::{Exemptions, Names};
    use bucketwarden::core::decision::Decider;
    use bucketwarden::core::fold::{BucketState, TagState};

    let moto = start_moto();
    let clients = clients_at(&moto.endpoint).await;
    let names = Names::default();
    bucketwarden::commands::init::init(&clients, &names, 1, Duration::from_secs(86400))
        .await
        .unwrap();
    let (seen, unseen) = ("seen-admin-tag", "unseen-tag");
    for b in [seen, unseen] {
        open_with_public_acl(&clients.s3, b).await;
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .tag_set(
                aws_sdk_s3::types::Tag::builder()
                    .key(ALLOW)
                    .value("true")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        clients
            .s3
            .put_bucket_tagging()
            .bucket(b)
            .tagging(tagging)
            .send()
            .await
            .unwrap();
    }
    let store = StateStore::new(clients.dynamodb.clone(), &names.state_table);
    let now = jiff::Timestamp::now().as_millisecond();
    // What the stream told the fleet an hour ago: the admin's session set this tag set.
    let known = BucketState {
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
        tags: Some(TagState::new(
            vec![(ALLOW.into(), "true".into())],
            now - 3_600_000,
            Some("arn:aws:sts::123456789012:assumed-role/platform-admin/jane".into()),
        )),
        ..BucketState::default()
    };
    store.save_bucket(seen, &known, 0).await.unwrap();
    let exemptions = Exemptions {
        tags: [(ALLOW.to_owned(), "true".to_owned())].into(),
        tag_setters: Some(vec![ADMIN_ROLE.into()]),
        ..Exemptions::default()
    };
    let decider = Decider::new(&exemptions, false).unwrap();
    let topic = Alerter::ensure_topic(&clients, &names.alert_topic)
        .await
        .unwrap();
    let alerter = Alerter::new(clients.clone(), topic);
    let incidents = IncidentTable::new(clients.clone(), &names.incident_table);
    let remediator = S3Remediator::new(clients.clone(), 2);
    let leader = std::sync::atomic::AtomicBool::new(true);
    let ctx = reconcile::Ctx {
        clients: &clients,
        store: &store,
        incidents: &incidents,
        alerter: &alerter,
        remediator: &remediator,
        decider: &decider,
        account: ACCOUNT,
        worker_id: "test",
        interval_ms: 60_000,
        concurrency: 2,
        still_leader: &leader,
    };
    let report = reconcile::pass(&ctx, now).await.unwrap();
    assert_eq!(report.remediated, 1, "{report:?}");
    let blocked = |b: &'static str| {
        let s3 = clients.s3.clone();
        async move {
            s3.get_public_access_block()
                .bucket(b)
                .send()
                .await
                .ok()
                .and_then(|r| r.public_access_block_configuration().cloned())
                .is_some_and(|c| c.block_public_acls() == Some(true))
        }
    };
    assert!(
        blocked(unseen).await,
        "the unseen setter's tag was honoured"
    );
    assert!(
        !blocked(seen).await,
        "the authorised setter's tag was ignored"
    );
    // Two incidents: the remediation of the bucket whose tag was ignored, and the alert on the
    // exempt one (reconciliation alerts on an exempt public bucket, as scan does).
    let items = scan_table(&clients.dynamodb, &names.incident_table).await;
    assert_eq!(items.len(), 2, "{items:?}");
    let of = |b: &str| {
        items
            .iter()
            .find(|i| s(i, "bucket") == b)
            .unwrap_or_else(|| panic!("no incident for {b}: {items:?}"))
    };
    assert_eq!(s(of(seen), "action"), "alert");
    assert_eq!(s(of(seen), "rule"), "exempt_by_tag");
    assert_eq!(s(of(unseen), "action"), "remediate");
    let why = reasons(of(unseen));
    assert!(
        why.contains(&"exemption:unauthorised-tag".to_owned()),
        "{why:?}"
    );
    assert!(
        why.contains(
            &"exemption:tag-set-by:unknown:re-tag-by-an-identity-in-tag_setters".to_owned()
        ),
        "{why:?}"
    );
}
