//! The runtime commands on the host: descriptions are encoded with the runtime's own
//! encoder and decode back to what was asked; bad arguments and a missing device are
//! refused with their exit codes. (In a real kernel: kmod/guest/scenarios/s11_cli.sh.)

use std::process::Command;

use dynwalk_kmod::wire::{decode, Method, PolicyKind};

fn dynwalk(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dynwalk")).args(args).output().unwrap()
}

#[test]
fn describe_writes_a_description_the_runtime_decoder_accepts() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("u.bin");
    let o = dynwalk(&[
        "describe",
        "--out",
        out.to_str().unwrap(),
        "grp",
        "dwt_update",
        "dwt_group_a=dwt_group_a_v2,group=1",
        "dwt_group_b=dwt_group_b_v2,group=1,policy=task:42,expect=0f1f440000",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(&out).unwrap();
    let desc = decode(&bytes).expect("the runtime's decoder accepts it");
    assert_eq!(desc.name, b"grp");
    assert_eq!(desc.module, b"dwt_update");
    let funcs: Vec<_> = desc.funcs().collect();
    assert_eq!(funcs.len(), 2);
    assert_eq!(
        (funcs[1].target, funcs[1].group, funcs[1].policy, funcs[1].param),
        (&b"dwt_group_b"[..], 1, PolicyKind::Task, 42)
    );
    assert_eq!(funcs[0].method, Method::Ftrace);
}

#[test]
fn bad_descriptions_and_a_missing_device_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("u.bin");
    let o = dynwalk(&["describe", "--out", out.to_str().unwrap(), "x", "m", "no_equals_sign"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("want TARGET=VERSION"));
    let o = dynwalk(&["describe", "--out", out.to_str().unwrap(), "x", "m", "f=v,expect=0f1f"]);
    assert_eq!(o.status.code(), Some(3), "2 expected bytes are too few");
    assert!(!out.exists(), "nothing is written when the description is refused");
    let o = dynwalk(&["status", "--device", "/nonexistent/dynwalk"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is dynwalk.ko loaded"));
}
