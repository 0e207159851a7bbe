//! Chapter 02 — images.
//!
//! An image is not a thing that runs: it is a list of layers (tar files of
//! filesystem changes) and a config (what to run, with which environment),
//! tied together by a manifest, every piece named by the SHA-256 of its
//! bytes. This crate stores them ([`store`]), unpacks layers ([`layer`]),
//! stacks them into a container's root filesystem ([`snapshot`]), and moves
//! images in and out as archives ([`archive`]).

pub mod archive;
pub mod atomic;
pub mod build;
pub mod content;
pub mod digest;
pub mod dockerfile;
pub mod dockerignore;
pub mod error;
pub mod inroot;
pub mod layer;
pub mod lock;
pub mod oci;
pub mod reference;
pub mod rootfs;
pub mod securejoin;
pub mod snapshot;
pub mod static_binary;
pub mod store;
