//! `/volumes…` until chapter 08: there are none, and creating one is
//! refused, naming the chapter that brings them. The 404s matter: `docker
//! inspect NAME` asks here too before it gives up.

use api::ApiError;
use api::http::{Response, Router};
use serde_json::json;

pub fn add(router: &mut Router) {
    router.add("GET", "/volumes", |_| {
        Ok(Response::json(
            200,
            &json!({"Volumes": [], "Warnings": null}),
        ))
    });
    router.add("POST", "/volumes/create", |_| {
        Err(ApiError::bad_request(
            "volumes are not supported by minidockerd yet: chapter 08 (volumes) brings them",
        ))
    });
    for method in ["GET", "DELETE"] {
        router.add(method, "/volumes/{name}", |req| {
            Err(ApiError::not_found(format!(
                "get {}: no such volume",
                req.param("name")
            )))
        });
    }
    router.add("POST", "/volumes/prune", |_| {
        Ok(Response::json(
            200,
            &json!({"VolumesDeleted": [], "SpaceReclaimed": 0}),
        ))
    });
}
