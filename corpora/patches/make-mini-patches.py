#!/usr/bin/env python3
"""Regenerates the fixture patches against corpora/mini from the edits below.
Each patch is a plain `diff -u` (git-style a/ b/ paths). Run from the repository root:
    python3 corpora/patches/make-mini-patches.py
"""
import os, shutil, subprocess, tempfile

ROOT = os.path.join(os.path.dirname(__file__), "..", "mini")
OUT = os.path.join(os.path.dirname(__file__), "mini")

def patch(name, header, edits, new_files=()):
    tmp = tempfile.mkdtemp()
    a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
    shutil.copytree(ROOT, a)
    shutil.copytree(ROOT, b)
    for path, old, new in edits:
        p = os.path.join(b, path)
        text = open(p).read()
        assert old in text, (name, path, old)
        open(p, "w").write(text.replace(old, new, 1))
    for path, text in new_files:
        os.makedirs(os.path.dirname(os.path.join(b, path)), exist_ok=True)
        open(os.path.join(b, path), "w").write(text)
    out = subprocess.run(["diff", "-ruN", "a", "b"], cwd=tmp, capture_output=True, text=True).stdout
    out = "\n".join(l.split("\t")[0] if l.startswith(("--- ", "+++ ")) else l
                    for l in out.split("\n") if not l.startswith("diff -ruN"))
    open(os.path.join(OUT, name), "w").write(header + "\n---\n" + out)
    shutil.rmtree(tmp)

patch("goodness-inline.diff", "Subject: [PATCH] sched: prefer tasks that share the mm more strongly",
      [("kernel/sched.c", "\t\tweight += 1;", "\t\tweight += 2;")])
patch("pipe-read-fix.diff", "Subject: [PATCH] pipe: do not return more than the pipe holds (CVE-2026-0001)",
      [("fs/pipe.c", "\tread = min(count, (size_t) PIPE_LEN(*inode));", "\tread = min(count, (size_t) PIPE_LEN(*inode));\n\tif (read < 0)\n\t\tread = 0;")])
patch("task-new-field.diff", "Subject: [PATCH] fork: record the parent's pid in a new task field",
      [("include/linux/sched.h", "\tint pid;\n", "\tint pid;\n\tint parent_pid;\n"),
       ("kernel/fork.c", "\tp->pid = ++nr_threads;", "\tp->pid = ++nr_threads;\n\tp->parent_pid = orig->pid;")])
patch("task-field-removed.diff", "Subject: [PATCH] sched: drop the nice field, fold it into counter",
      [("include/linux/sched.h", "\tlong nice;\n", ""),
       ("kernel/sched.c", "\tweight += 20 - p->nice;\n", "")])
patch("wake-up-macro.diff", "Subject: [PATCH] wait: wake_up() wakes two waiters",
      [("include/linux/wait.h", "#define wake_up(x)\t\t\t__wake_up((x), TASK_UNINTERRUPTIBLE | TASK_INTERRUPTIBLE, 1)",
        "#define wake_up(x)\t\t\t__wake_up((x), TASK_UNINTERRUPTIBLE | TASK_INTERRUPTIBLE, 2)")])
patch("shrink-caches.diff", "Subject: [PATCH] vmscan: shrink caches less at low priority",
      [("mm/vmscan.c", "\treturn priority > 0 ? free_pages_low - priority : 0;", "\treturn priority > 1 ? free_pages_low - priority : 0;")])
patch("reclaimd-loop.diff", "Subject: [PATCH] reclaimd: reclaim twice per wakeup",
      [("mm/reclaimd.c", "\t\treclaim_one();\n\t\tset_current_state", "\t\treclaim_one();\n\t\treclaim_one();\n\t\tset_current_state")])
patch("init-static-data.diff", "Subject: [PATCH] sched/reclaimd: init and static data changes",
      [("kernel/sched.c", "\tnr_running = 0;\n}", "\tnr_running = 0;\n\tjiffies = 0;\n}"),
       ("mm/reclaimd.c", "static int reclaim_interval = HZ;", "static int reclaim_interval = 2 * HZ;"),
       ("mm/reclaimd.c", "static notrace void reclaim_one(void)\n{\n", "static notrace void reclaim_one(void)\n{\n\tstatic int calls;\n\n\tcalls++;\n")])
patch("knr-schedule-timeout.diff", "Subject: [PATCH] sched: schedule_timeout() returns 1 at least (2.4 K&R code)",
      [("kernel/sched.c", "\treturn timeout < 0 ? 0 : timeout;", "\treturn timeout < 1 ? 1 : timeout;")])
patch("wake-up-process-signature.diff", "Subject: [PATCH] sched: wake_up_process() takes the wakeup state",
      [("kernel/sched.c", "int wake_up_process(struct task_struct *p)\n{\n\tp->state = TASK_RUNNING;",
        "int wake_up_process(struct task_struct *p, long state)\n{\n\tp->state = state;")])
patch("task-state-constant.diff", "Subject: [PATCH] wait: renumber TASK_INTERRUPTIBLE",
      [("include/linux/wait.h", "#define TASK_INTERRUPTIBLE\t1", "#define TASK_INTERRUPTIBLE\t4")])
patch("asm-and-kconfig.diff", "Subject: [PATCH] x86: new entry stub and a Kconfig knob",
      [], [("arch/x86/entry.S", ".globl entry_stub\nentry_stub:\n\tret\n"), ("Kconfig", "config PIPE_STATS\n\ttristate \"pipe statistics\"\n")])
