//! `--app-region`: doctor and discover say whether the app region offers each served service
//! over native cross-region PrivateLink. moto has no ServiceRegions, so a local responder
//! plays the app region's EC2 API: one service offered, one unknown there.

use std::sync::{Arc, Mutex};

use crate::support::moto::{self, FakeEc2, Moto, REGION};
use crate::support::process::*;
use crate::support::*;

const OFFERED: &str = "com.amazonaws.ap-southeast-2.bedrock-runtime";

/// The app region's DescribeVpcEndpointServices: `OFFERED` from ap-southeast-2 when asked with
/// that ServiceRegions filter, InvalidServiceName for anything else.
fn app_region_api(bodies: Arc<Mutex<Vec<String>>>) -> Arc<moto::Answer> {
    Arc::new(move |body: &str| {
        bodies.lock().unwrap().push(body.to_string());
        let filtered = body.contains("ServiceRegion.1=ap-southeast-2");
        if !(filtered && body.contains(&format!("ServiceName.1={OFFERED}"))) {
            return moto::ec2_error("400 Bad Request", "InvalidServiceName");
        }
        let xml = format!(
            "<DescribeVpcEndpointServicesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>1</requestId><serviceNameSet><item>{OFFERED}</item></serviceNameSet>\
             <serviceDetailSet><item><serviceName>{OFFERED}</serviceName><serviceRegion>ap-southeast-2</serviceRegion>\
             <serviceType><item><serviceType>Interface</serviceType></item></serviceType></item></serviceDetailSet>\
             </DescribeVpcEndpointServicesResponse>"
        );
        ("200 OK", xml)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_and_discover_say_which_services_the_app_region_offers_across_regions() {
    let moto = Moto::start();
    let ec2 = moto.client();
    let (vpc, subnets) = moto::vpc(&ec2, 9, 1).await;
    moto::interface_endpoint(&ec2, &vpc, "bedrock-runtime", &subnets).await;
    moto::interface_endpoint(&ec2, &vpc, "bedrock-agent-runtime", &subnets).await;
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let app = FakeEc2::start(app_region_api(bodies.clone())).await;

    let up = TestUpstream::start().await;
    let text = format!(
        "[dns]\nlisten = [\"127.0.0.1:{}\"]\n[upstream]\nservers = [\"{}\"]\n\
         [[source]]\nregion = \"{REGION}\"\nhealth_check = false\nvpc_id = \"{vpc}\"\nendpoint_url = \"{}\"\n",
        free_port(),
        up.addr,
        moto.url()
    );
    let path = write(
        &temp_dir(&format!("cross-region-{}", free_port())),
        "c.toml",
        &text,
    );
    let run = |args: Vec<String>| {
        let url = app.url();
        tokio::task::spawn_blocking(move || {
            command()
                .env("AWS_ENDPOINT_URL_EC2", url)
                .args(args)
                .output()
                .unwrap()
        })
    };
    let config = path.to_str().unwrap().to_string();

    let out = run(vec![
        "discover".into(),
        "--app-region".into(),
        "us-west-2".into(),
        "--config".into(),
        config.clone(),
    ])
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "{OFFERED} is offered in us-west-2 over cross-region PrivateLink"
        )),
        "{err}"
    );
    assert!(
        err.contains(
            "com.amazonaws.ap-southeast-2.bedrock-agent-runtime is not offered in us-west-2"
        ),
        "{err}"
    );
    // Asked in the app region, filtered by the endpoint region.
    assert!(
        bodies
            .lock()
            .unwrap()
            .iter()
            .all(|b| b.contains("Action=DescribeVpcEndpointServices")
                && b.contains("ServiceRegion.1=ap-southeast-2")),
        "{:?}",
        bodies.lock().unwrap()
    );

    let out = run(vec![
        "doctor".into(),
        "-o".into(),
        "json".into(),
        "--no-connect".into(),
        "--app-region".into(),
        "us-west-2".into(),
        "--config".into(),
        config.clone(),
    ])
    .await
    .unwrap();
    let checks: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let line = |service: &str| {
        checks
            .iter()
            .find(|c| c["check"] == format!("cross-region privatelink {service}"))
            .unwrap_or_else(|| panic!("no line for {service}: {checks:?}"))
            .clone()
    };
    let offered = line(OFFERED);
    assert_eq!(offered["ok"], true);
    assert!(
        offered["detail"]
            .as_str()
            .unwrap()
            .contains("cross_region_endpoint"),
        "{offered}"
    );
    let kept = line("com.amazonaws.ap-southeast-2.bedrock-agent-runtime");
    assert!(
        kept["detail"].as_str().unwrap().contains("keep peering"),
        "{kept}"
    );

    // Without --app-region nothing is asked.
    let before = bodies.lock().unwrap().len();
    let out = run(vec!["discover".into(), "--config".into(), config])
        .await
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        bodies.lock().unwrap().len(),
        before,
        "asked without --app-region"
    );
}
