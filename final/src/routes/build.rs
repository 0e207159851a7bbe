//! `POST /build`, the classic builder's endpoint: the context tar as the
//! body, the options in the query, and the JSON stream the docker CLI
//! prints — `{"stream": …}` per line as each step runs, `{"aux": {"ID":
//! …}}` with the image, and `errorDetail` when it fails.

use std::sync::Arc;

use api::ApiError;
use api::http::{Request, Response, Router};
use serde_json::{Value, json};

use super::containers::route;
use images::build::RunFailed;

use crate::daemon::Daemon;
use crate::daemon::build::BuildQuery;

pub fn add(router: &mut Router, daemon: &Arc<Daemon>) {
    route!(router, daemon, "POST", "/build", build);
}

fn build(d: &Arc<Daemon>, req: &mut Request) -> Result<Response, ApiError> {
    let query = BuildQuery::parse(req)?;
    // The whole context first (to disk): the answer's head goes out only
    // when the request has been read.
    let context = d.receive_context(req.body())?;
    let d = Arc::clone(d);
    // ANCHOR: build
    Ok(Response::stream(200, "application/json", move |out| {
        let mut line = |message: Value| {
            let mut bytes = serde_json::to_vec(&message).unwrap_or_default();
            bytes.extend(b"\r\n");
            // A client that went away: the build goes on, unheard.
            let _ = out.write_all(&bytes).and_then(|()| out.flush());
        };
        let quiet = query.quiet;
        let built = d.build(context.path(), &query, &mut |text| {
            if !quiet {
                line(json!({"stream": format!("{text}\n")}));
            }
        });
        match built {
            Ok(image) => {
                line(json!({"aux": {"ID": image.id.to_string()}}));
                // `-q`: the CLI prints what the stream said, which is then
                // the image ID alone.
                if quiet {
                    line(json!({"stream": format!("{}\n", image.id)}));
                }
            }
            Err(e) => {
                let message = format!("{e:#}");
                // A failed RUN's code: the docker CLI exits with it.
                let code = e
                    .chain()
                    .find_map(|c| c.downcast_ref::<RunFailed>())
                    .map_or(1, |failed| failed.code);
                line(json!({"errorDetail": {"message": message, "code": code}, "error": message}));
            }
        }
        Ok(())
    }))
    // ANCHOR_END: build
}
