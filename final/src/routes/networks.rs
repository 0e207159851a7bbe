//! `/networks…` until chapter 07: the three networks every Docker host has
//! are listed (this step runs `none` and `host` as Docker does, and the
//! default `bridge` with a loopback-only namespace); creating one is
//! refused, naming the chapter that brings it.

use std::sync::Arc;

use api::ApiError;
use api::http::{Request, Response, Router};
use serde_json::{Value, json};

use super::containers::route;
use crate::daemon::Daemon;

/// (name, driver), as `docker network ls` shows Docker's own.
const PREDEFINED: [(&str, &str); 3] = [("bridge", "bridge"), ("host", "host"), ("none", "null")];

pub fn add(router: &mut Router, daemon: &Arc<Daemon>) {
    router.add("GET", "/networks", |_| {
        let all: Vec<Value> = PREDEFINED.iter().map(|(n, d)| network(n, d)).collect();
        Ok(Response::json(200, &all))
    });
    router.add("GET", "/networks/{id}", |req| {
        let wanted = req.param("id");
        PREDEFINED
            .iter()
            .find(|(name, _)| *name == wanted || network_id(name).starts_with(wanted))
            .map(|(n, d)| Response::json(200, &network(n, d)))
            .ok_or_else(|| ApiError::not_found(format!("network {wanted} not found")))
    });
    route!(router, daemon, "POST", "/networks/create", refuse);
    route!(router, daemon, "POST", "/networks/{id}/connect", refuse);
    route!(router, daemon, "POST", "/networks/{id}/disconnect", refuse);
    router.add("DELETE", "/networks/{id}", |req| {
        let wanted = req.param("id");
        if PREDEFINED.iter().any(|(name, _)| *name == wanted) {
            return Err(ApiError::new(
                403,
                format!("{wanted} is a pre-defined network and cannot be removed"),
            ));
        }
        Err(ApiError::not_found(format!("network {wanted} not found")))
    });
    router.add("POST", "/networks/prune", |_| {
        Ok(Response::json(200, &json!({"NetworksDeleted": []})))
    });
}

fn refuse(_: &Arc<Daemon>, _: &mut Request) -> Result<Response, ApiError> {
    Err(ApiError::bad_request(
        "user networks are not supported by minidockerd yet: chapter 07 (network) brings them",
    ))
}

/// A stable 64-hex ID per predefined network.
fn network_id(name: &str) -> String {
    images::digest::Digest::of_bytes(format!("minidocker network {name}").as_bytes())
        .hex()
        .to_string()
}

fn network(name: &str, driver: &str) -> Value {
    json!({
        "Name": name, "Id": network_id(name), "Created": "0001-01-01T00:00:00Z",
        "Scope": "local", "Driver": driver, "EnableIPv4": true, "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": []},
        "Internal": false, "Attachable": false, "Ingress": false,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": false,
        "Containers": {}, "Options": {}, "Labels": {},
    })
}
