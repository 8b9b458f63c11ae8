/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Internal interface of the dynwalk runtime: the C shim (everything that touches the
 * kernel ABI) and the no_std Rust object (the logic, kmod/rt/src/ffi.rs).
 */
#ifndef DW_SHIM_H
#define DW_SHIM_H

#include <asm/insn.h>
#include <linux/types.h>
#include <linux/module.h>

#define DW_MAX_SLOTS 256	/* = table::MAX_SLOTS */
#define DW_MAX_EXPECTED 16	/* = wire::MAX_EXPECTED */
#define DW_REPLY_LEN 16384
#define DW_MAX_INPUT 32768	/* = wire::MAX_DESC_LEN */

/* Must match table::Resolved (repr(C)). */
struct dw_resolved {
	u64 target;
	u64 target_size;
	u64 version;
	u64 version_size;
	u64 counter;
	u64 predicate;
	u32 ftrace_site;
	u32 actual_len;
	u32 first_insn_len;
	u8 actual[DW_MAX_EXPECTED];
};

/* Provided by the Rust object. */
int dw_rt_control(const u8 *buf, size_t len, u8 *reply, size_t cap, size_t *written);
u64 dw_select(u32 slot, u64 parent, u32 pid, u32 cpu);
u64 dw_rt_select_core(u32 slot, u64 parent, u32 pid, u32 cpu);
s64 dw_rt_active_count(u32 update);
int dw_rt_held_by(u32 update, const u64 *addrs, size_t n);

/* Kernel symbols that are not exported, looked up once at init (dw_main.c). */
struct dw_ksyms {
	unsigned long (*lookup_name)(const char *name);
	int (*on_each_symbol)(int (*fn)(void *, const char *, struct module *, unsigned long),
			      void *data);
	int (*lookup_size_offset)(unsigned long addr, unsigned long *size, unsigned long *off);
	unsigned long (*ftrace_location)(unsigned long ip);
	void (*text_poke_bp)(void *addr, const void *opcode, size_t len, const void *emulate);
	/* The kernel's x86 decoder (not exported; optional: without it a jmp site must be a NOP5). */
	int (*insn_decode)(struct insn *insn, const void *kaddr, int buf_len, enum insn_mode m);
	struct mutex *text_mutex;
	int (*stack_trace_save_tsk_reliable)(struct task_struct *t, unsigned long *store,
					     unsigned int size);
	int (*task_call_func)(struct task_struct *p, int (*f)(struct task_struct *, void *),
			      void *arg);
};
extern struct dw_ksyms dw_ksyms;
/* dw_main.c: the sympos-th vmlinux symbol of a name (0: the only one), exported. */
unsigned long dw_ksym(const char *name, unsigned long sympos);

/* dw_registry.c */
int dw_registry_lookup(const char *module, const char *name, struct dw_resolved *out);
int dw_registry_init(void);
void dw_registry_exit(void);

/* dw_shadow.c */
long dw_shadow_count(void);
void dw_shadow_exit(void);

/* dw_redirect.c */
void dw_redirect_exit(void);
bool dw_site_saved_bytes(unsigned long target, u8 *out);

#endif
