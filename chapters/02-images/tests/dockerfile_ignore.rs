//! `images::dockerignore` on the examples of the Dockerfile reference
//! (".dockerignore file") and on a real build context.

use std::fs;

use images::dockerignore::DockerIgnore;

#[test]
fn reference_examples() {
    let ignore = DockerIgnore::parse("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
    // `*/temp*`: in any immediate subdirectory of the root.
    assert!(ignore.is_excluded("somedir/temporary.txt"));
    assert!(ignore.is_excluded("somedir/temp"));
    // `*/*/temp*`: two levels below the root.
    assert!(ignore.is_excluded("somedir/subdir/temporary.txt"));
    // `temp?`: one character after `temp`, in the root.
    assert!(ignore.is_excluded("tempa"));
    assert!(ignore.is_excluded("tempb"));
    assert!(!ignore.is_excluded("temp"));
    assert!(!ignore.is_excluded("temporary.txt"));
    // Deeper than both `*/` patterns reach.
    assert!(!ignore.is_excluded("a/b/c/tempa"));
}

#[test]
fn double_star_go_files() {
    let ignore = DockerIgnore::parse("**/*.go");
    assert!(ignore.is_excluded("main.go"));
    assert!(ignore.is_excluded("pkg/server/http.go"));
    assert!(!ignore.is_excluded("pkg/server/http.rs"));
}

#[test]
fn exceptions_and_their_order() {
    let ignore = DockerIgnore::parse("*.md\n!README.md");
    assert!(ignore.is_excluded("CHANGES.md"));
    assert!(!ignore.is_excluded("README.md"));

    // No markdown files except README files other than README-secret.md.
    let ignore = DockerIgnore::parse("*.md\n!README*.md\nREADME-secret.md");
    assert!(ignore.is_excluded("notes.md"));
    assert!(ignore.is_excluded("README-secret.md"));
    assert!(!ignore.is_excluded("README-public.md"));

    // All README files are included: the middle line has no effect, the
    // exception after it wins.
    let ignore = DockerIgnore::parse("*.md\nREADME-secret.md\n!README*.md");
    assert!(!ignore.is_excluded("README-secret.md"));
    assert!(!ignore.is_excluded("README.md"));
    assert!(ignore.is_excluded("notes.md"));
}

#[test]
fn excluded_directory_with_an_exception_inside() {
    let ignore = DockerIgnore::parse("node_modules\n!node_modules/keep/**\n");
    assert!(ignore.has_exceptions());
    assert!(ignore.is_excluded("node_modules"));
    assert!(ignore.is_excluded("node_modules/left/index.js"));
    assert!(!ignore.is_excluded("node_modules/keep/index.js"));
    assert!(!ignore.is_excluded("src/node_modules"));
}

#[test]
fn dockerfile_and_dockerignore_can_be_excluded() {
    // The reference: they are still sent to the builder, but COPY . does not see them.
    let ignore = DockerIgnore::parse("Dockerfile\n.dockerignore\n");
    assert!(ignore.is_excluded("Dockerfile"));
    assert!(ignore.is_excluded(".dockerignore"));
}

#[test]
fn walk_a_context() {
    let context = tempfile::tempdir().unwrap();
    let root = context.path();
    for file in [
        "Dockerfile",
        "src/main.rs",
        "src/main.rs.orig",
        "target/debug/app",
        "logs/today.log",
        "docs/README.md",
        "docs/guide.md",
    ] {
        let path = root.join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "x").unwrap();
    }
    fs::write(
        root.join(".dockerignore"),
        "# build output\ntarget/\n**/*.orig\nlogs\n*/*.md\n!docs/README.md\n",
    )
    .unwrap();
    let ignore = DockerIgnore::load(root).unwrap();
    let mut kept = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(root.join(&dir)).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            let relative = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            let is_dir = entry.file_type().unwrap().is_dir();
            if ignore.is_excluded(&relative) && !(is_dir && ignore.has_exceptions()) {
                continue;
            }
            if is_dir {
                pending.push(relative);
            } else if !ignore.is_excluded(&relative) {
                kept.push(relative);
            }
        }
    }
    kept.sort();
    assert_eq!(
        kept,
        [
            ".dockerignore",
            "Dockerfile",
            "docs/README.md",
            "src/main.rs"
        ]
    );
}

#[test]
fn missing_file_excludes_nothing_and_bad_patterns_are_refused() {
    let context = tempfile::tempdir().unwrap();
    let ignore = DockerIgnore::load(context.path()).unwrap();
    assert!(ignore.is_empty());
    assert!(!ignore.is_excluded("anything"));
    fs::write(context.path().join(".dockerignore"), "ok\n\n[z-\n").unwrap();
    let error = DockerIgnore::load(context.path()).unwrap_err();
    assert!(
        format!("{error:#}").ends_with(".dockerignore:3: syntax error in pattern \"[z-\""),
        "{error:#}"
    );
}
