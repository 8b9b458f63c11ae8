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
        "dwt_group_b=dwt_group_b_v2,group=1,policy=task:42,expect=e8DEadbeef90",
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
    assert_eq!(funcs[0].expected, NOP5, "no expect= option: an fentry site's 5-byte NOP");
    assert_eq!(funcs[1].expected, [0xe8, 0xde, 0xad, 0xbe, 0xef, 0x90]);
}

/// The 5-byte NOP of an fentry site, `describe`'s default expected bytes.
const NOP5: [u8; 5] = [0x0f, 0x1f, 0x44, 0x00, 0x00];

/// A function record of a description: (target, version, group, method, policy, param,
/// expected bytes).
type Record = (String, String, u8, u8, u8, u32, Vec<u8>);

/// Reads a description by the layout of docs/runtime-control.md, by hand (not with the
/// runtime's decoder).
struct Documented<'a> {
    b: &'a [u8],
    at: usize,
}

impl Documented<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        self.at += n;
        &self.b[self.at - n..self.at]
    }

    /// A length-prefixed byte string (`1+n` in the tables).
    fn counted(&mut self) -> Vec<u8> {
        let n = self.take(1)[0] as usize;
        self.take(n).to_vec()
    }

    fn records(b: &[u8]) -> Vec<Record> {
        assert_eq!(&b[0..4], b"DWUP");
        assert_eq!(u16::from_le_bytes([b[4], b[5]]), 1, "version");
        assert_eq!(u16::from_le_bytes([b[6], b[7]]), 16, "header length");
        assert_eq!(u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize, b.len(), "total length");
        let nfuncs = u16::from_le_bytes([b[12], b[13]]);
        assert_eq!(u16::from_le_bytes([b[14], b[15]]), 0, "flags");
        let mut r = Documented { b, at: 16 };
        let (_name, _module) = (r.counted(), r.counted());
        let mut out = Vec::new();
        for _ in 0..nfuncs {
            let target = String::from_utf8(r.counted()).unwrap();
            let version = String::from_utf8(r.counted()).unwrap();
            let fixed = r.take(8).to_vec();
            assert_eq!(fixed[3], 0, "reserved");
            let param = u32::from_le_bytes(fixed[4..8].try_into().unwrap());
            out.push((target, version, fixed[0], fixed[1], fixed[2], param, r.counted()));
        }
        assert_eq!(r.at, b.len(), "no trailing bytes");
        out
    }
}

#[test]
fn describe_encodes_the_expect_bytes_where_the_format_puts_them() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("u.bin");
    let sixteen = "0123456789abcdef0011223344556677";
    let o = dynwalk(&[
        "describe",
        "--out",
        out.to_str().unwrap(),
        "exp",
        "dwt_update",
        "f_default=f_v2",
        "f_call=f_call_v2,group=2,expect=e8DEadbeef",
        &format!("f_long=f_long_v2,group=3,method=jmp,policy=cpu:3,expect={sixteen}"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let recs = Documented::records(&std::fs::read(&out).unwrap());
    let expected: Vec<(&str, u8, u8, u8, u32, Vec<u8>)> = recs
        .iter()
        .map(|(t, _, group, method, policy, param, e)| (t.as_str(), *group, *method, *policy, *param, e.clone()))
        .collect();
    assert_eq!(
        expected,
        [
            ("f_default", 0, 0, 0, 0, NOP5.to_vec()),
            ("f_call", 2, 0, 0, 0, vec![0xe8, 0xde, 0xad, 0xbe, 0xef]),
            (
                "f_long",
                3,
                1,
                2,
                3,
                vec![0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77]
            ),
        ]
    );
    assert_eq!(recs[1].1, "f_call_v2");
    // 17 bytes are one too many, and text that is not hex is refused: nothing written.
    for bad in [format!("f=v,expect={sixteen}88"), "f=v,expect=0f1f44000g".to_string()] {
        std::fs::remove_file(&out).unwrap_or(());
        let o = dynwalk(&["describe", "--out", out.to_str().unwrap(), "x", "m", &bad]);
        assert_eq!(o.status.code(), Some(3), "{bad}");
        assert!(!out.exists(), "{bad}: nothing is written");
    }
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
