//! `/images/…`: list, inspect, history, tag, rmi, load, save, prune,
//! import (in `commit.rs`); pull
//! answers a stream error until chapter 06 brings the registry client.

use std::sync::Arc;

use api::ApiError;
use api::http::{Request, Response, Router};
use images::error::Removed;
use images::reference::Reference;
use serde_json::{Value, json};

use super::containers::route;
use crate::daemon::{self, Daemon, image_error};

pub fn add(router: &mut Router, daemon: &Arc<Daemon>) {
    route!(router, daemon, "GET", "/images/json", list);
    route!(router, daemon, "POST", "/images/create", pull);
    route!(router, daemon, "POST", "/images/load", load);
    route!(router, daemon, "GET", "/images/get", save);
    route!(router, daemon, "POST", "/images/prune", prune);
    route!(router, daemon, "GET", "/images/{name*}/json", inspect);
    route!(router, daemon, "GET", "/images/{name*}/history", history);
    route!(router, daemon, "GET", "/images/{name*}/get", save_one);
    route!(router, daemon, "POST", "/images/{name*}/tag", tag);
    route!(router, daemon, "POST", "/images/{name*}/push", push);
    route!(router, daemon, "DELETE", "/images/{name*}", remove);
}

fn list(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let filters = api::query::parse_filters(req.query("filters"))?;
    let images = d.store.images()?;
    let containers = d.containers();
    let mut rows = Vec::new();
    for image in &images {
        if daemon::images::matches(image, &filters)? {
            let id = image.id.to_string();
            let users = containers
                .iter()
                .filter(|c| c.record().image_id == id)
                .count();
            let mut row = daemon::images::summary(image, users as i64);
            // `docker images busybox` shows busybox's tags, not every name
            // of the images that have one.
            if let Some(patterns) = filters.get("reference") {
                let tags = daemon::images::matching_tags(image, patterns);
                // The CLI makes a row of every repository in either list.
                let digests: Vec<Value> = row["RepoDigests"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|d| {
                        let repository = d.as_str().unwrap_or("").split('@').next();
                        tags.iter()
                            .any(|t| t.rsplit_once(':').map(|(r, _)| r) == repository)
                    })
                    .cloned()
                    .collect();
                row["RepoTags"] = json!(tags);
                row["RepoDigests"] = json!(digests);
            }
            rows.push(row);
        }
    }
    Ok(Response::json(200, &rows))
}

fn inspect(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let image = d.store.resolve(req.param("name")).map_err(image_error)?;
    let mut inspect = daemon::images::inspect(&image);
    // A commit's or an import's Author, Comment and Container.
    let extra = daemon::commit::extra_fields(&d.store, &image.id);
    for (key, value) in extra.as_object().into_iter().flatten() {
        inspect[key] = value.clone();
    }
    Ok(Response::json(200, &inspect))
}

fn history(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let image = d.store.resolve(req.param("name")).map_err(image_error)?;
    Ok(Response::json(200, &daemon::images::history(&image)))
}

/// `docker tag SOURCE REPO[:TAG]`: the CLI sends `repo` fully qualified.
fn tag(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let image = d.store.resolve(req.param("name")).map_err(image_error)?;
    let repo = req.query("repo").unwrap_or_default();
    let mut text = repo.to_string();
    if let Some(tag) = req.query("tag").filter(|t| !t.is_empty()) {
        text = format!("{repo}:{tag}");
    }
    let reference = Reference::parse(&text)
        .map_err(|e| ApiError::bad_request(format!("invalid reference format: {e}")))?;
    let reference = if reference.tag.is_none() && reference.digest.is_none() {
        reference.with_tag("latest")
    } else {
        reference
    };
    d.store
        .tag(&image, &reference)
        .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    d.image_event("tag", &image.id.to_string(), &reference.familiar());
    Ok(Response::empty(201))
}

// ANCHOR: remove
// ANCHOR: remove_in_use
/// `docker rmi`: 409 while a container uses the image (naming it), unless
/// `force` and none of them runs: then the image goes, and its layers stay
/// until its last container does (Docker's rule).
fn remove(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let name = req.param("name").to_string();
    let image = d.store.resolve(&name).map_err(image_error)?;
    // A name of an image that has others only comes off, whoever uses
    // the image (moby's `ImageDelete`): the containers keep their image.
    let only_a_name = image.tags.len() > 1
        && Reference::parse(&name).is_ok_and(|r| {
            let r = if r.tag.is_none() && r.digest.is_none() {
                r.with_tag("latest")
            } else {
                r
            };
            image.tags.contains(&r)
        });
    let users = if only_a_name {
        Vec::new()
    } else {
        d.image_users(&image)
    };
    let force = req.query_bool("force");
    if let Some((user, _)) = users.first() {
        if !force {
            return Err(ApiError::conflict(format!(
                "conflict: unable to remove repository reference \"{name}\" (must force) - \
                 container {} is using its referenced image {}",
                &user[..12],
                image.id.short()
            )));
        }
        if let Some((running, _)) = users.iter().find(|(_, running)| *running) {
            return Err(ApiError::conflict(format!(
                "conflict: unable to delete {} (cannot be forced) - image is being used by \
                 running container {}",
                image.id.short(),
                &running[..12]
            )));
        }
    }
    // ANCHOR_END: remove_in_use
    // Forced, with stopped users only: the image goes, its layers stay for
    // their snapshots (moby: a soft conflict, which force overrides).
    let removed = d.store.remove_with(&name, force).map_err(image_error)?;
    let id = image.id.to_string();
    let items: Vec<Value> = removed
        .iter()
        .map(|r| match r {
            Removed::Untagged(untagged) => {
                d.image_event("untag", &id, untagged);
                json!({"Untagged": untagged})
            }
            Removed::Deleted(deleted) => {
                d.image_event("delete", deleted, &name);
                json!({"Deleted": deleted})
            }
        })
        .collect();
    Ok(Response::json(200, &items))
}
// ANCHOR_END: remove

/// `docker load`: the archive arrives as the request body.
fn load(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let quiet = req.query_bool("quiet");
    let mut lines = Vec::new();
    images::archive::load(&d.store, req.body(), &mut |line| {
        lines.push(line.to_string())
    })
    .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    let mut body = Vec::new();
    for line in lines {
        // "Loaded image: NAME" / "Loaded image ID: sha256:…": one event each.
        if let Some(loaded) = line
            .split_once(": ")
            .map(|(_, n)| n)
            .filter(|_| line.starts_with("Loaded image"))
        {
            let id = d
                .store
                .resolve(loaded)
                .map(|i| i.id.to_string())
                .unwrap_or_default();
            d.image_event("load", &id, loaded);
        }
        if quiet && !line.starts_with("Loaded image") {
            continue;
        }
        body.extend(
            json!({"stream": format!("{line}\n")})
                .to_string()
                .into_bytes(),
        );
        body.extend(b"\r\n");
    }
    Ok(Response::text(200, "application/json", body))
}

/// `docker save NAME…`: `GET /images/get?names=a&names=b`.
fn save(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let names: Vec<String> = req
        .query
        .iter()
        .filter(|(k, _)| k == "names")
        .map(|(_, v)| v.clone())
        .collect();
    save_names(d, names)
}

fn save_one(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    save_names(d, vec![req.param("name").to_string()])
}

fn save_names(d: &Arc<Daemon>, names: Vec<String>) -> Result<Response, ApiError> {
    if names.is_empty() {
        return Err(ApiError::bad_request(
            "nothing to save: name at least one image",
        ));
    }
    // Checked before the 200: an error in the middle of a tar is lost.
    for name in &names {
        let image = d.store.resolve(name).map_err(image_error)?;
        d.image_event("save", &image.id.to_string(), name);
    }
    let d = Arc::clone(d);
    Ok(Response::stream(200, "application/x-tar", move |out| {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        images::archive::save(&d.store, &names, out).map_err(std::io::Error::other)
    }))
}

/// `docker image prune [-a] [--filter until=…|label=…]`.
fn prune(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let filters = api::query::parse_filters(req.query("filters"))?;
    Ok(Response::json(200, &d.prune_images(&filters)?))
}

/// The line a pull or push stream ends with when it fails: the CLI shows a
/// stream error only through `errorDetail`.
fn stream_error(message: &str) -> Response {
    let mut body =
        serde_json::to_vec(&json!({"errorDetail": {"message": message}, "error": message}))
            .unwrap_or_default();
    body.extend(b"\r\n");
    Response::text(200, "application/json", body)
}

fn pull(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    if req.query("fromSrc").is_some() {
        return super::commit::import(d, req);
    }
    let image = req.query("fromImage").unwrap_or_default();
    let tag = req
        .query("tag")
        .filter(|t| !t.is_empty())
        .unwrap_or("latest");
    Ok(stream_error(&format!(
        "cannot pull {image}:{tag}: minidockerd has no registry client yet (chapter 06 brings it); \
         use the offline images (hello, busybox) or docker load"
    )))
}

fn push(_d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    Ok(stream_error(&format!(
        "cannot push {}: minidockerd has no registry client yet (chapter 06 brings it); use docker save",
        req.param("name")
    )))
}
