//! Compiles the BPF dispatcher (`src/bpf/main.bpf.c`, which includes the other `src/bpf/*.bpf.h` parts into one
//! object) and generates its Rust skeleton and the bindings of the
//! records shared with user space (`src/bpf/intf.h`).
//!
//! The `scx/*.h` headers and `vmlinux.h` come from the `scx_cargo` crate. A BPF-capable clang >= 16 is needed: set
//! `BPF_CLANG` to choose one, otherwise `clang-19` .. `clang-16` and then `clang` are tried in that order.

use std::process::Command;

/// Oldest clang that gets 64-bit enums in BPF right.
const MIN_CLANG_MAJOR: u32 = 16;

fn clang_major(cmd: &str) -> Option<u32> {
    let out = Command::new(cmd).arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let rest = &text[text.find("clang version ")? + "clang version ".len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn find_clang() -> Result<String, String> {
    if let Ok(clang) = std::env::var("BPF_CLANG") {
        return match clang_major(&clang) {
            Some(v) if v >= MIN_CLANG_MAJOR => Ok(clang),
            Some(v) => Err(format!(
                "BPF_CLANG={clang} is clang {v}; clang >= {MIN_CLANG_MAJOR} is required"
            )),
            None => Err(format!(
                "BPF_CLANG={clang} does not run (`{clang} --version` failed)"
            )),
        };
    }
    let candidates = (MIN_CLANG_MAJOR..=19)
        .rev()
        .map(|v| format!("clang-{v}"))
        .chain(["clang".to_string()]);
    for cand in candidates {
        if clang_major(&cand).is_some_and(|v| v >= MIN_CLANG_MAJOR) {
            return Ok(cand);
        }
    }
    Err(format!(
        "no clang >= {MIN_CLANG_MAJOR} found to compile the BPF program: install the Debian package `clang-19` \
         (`cargo xtask deps`), or set BPF_CLANG to a clang >= {MIN_CLANG_MAJOR}"
    ))
}

fn main() {
    println!("cargo:rerun-if-env-changed=BPF_CLANG");
    // The whole directory: main.bpf.c, the parts it includes and intf.h (a part added later is covered too).
    println!("cargo:rerun-if-changed=src/bpf");
    let clang = match find_clang() {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("error: {msg}");
            std::process::exit(1);
        }
    };
    // scx_cargo reads the compiler from BPF_CLANG.
    std::env::set_var("BPF_CLANG", &clang);

    let result = scx_cargo::BpfBuilder::new().and_then(|mut b| {
        b.enable_intf("src/bpf/intf.h", "bpf_intf.rs")
            .enable_skel("src/bpf/main.bpf.c", "bpf")
            .build()
    });
    if let Err(e) = result {
        eprintln!("error: building the BPF program with {clang} failed: {e:#}");
        std::process::exit(1);
    }
}
