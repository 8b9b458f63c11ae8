// SPDX-License-Identifier: GPL-2.0-only
/*
 * Redirection: symbol resolution, ftrace (IPMODIFY) sites, text_poke'd jmp sites.
 * Which version runs is decided per call by the Rust dispatcher (dw_select).
 */
#define pr_fmt(fmt) "dynwalk: " fmt

#include <linux/ftrace.h>
#include <linux/kallsyms.h>
#include <linux/kernel.h>
#include <linux/memory.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/trace_recursion.h>
#include <linux/uaccess.h>
#include "dw_shim.h"

struct dw_armed {
	struct ftrace_ops ops;
	u32 slot;
	unsigned long target;
	u8 saved[DW_MAX_EXPECTED];	/* bytes at the site before ftrace changed them */
};

/* Guarded by the control mutex; the handler never reads this array. */
static struct dw_armed *dw_sites[DW_MAX_SLOTS];

static void notrace dw_ftrace_handler(unsigned long ip, unsigned long parent_ip,
				      struct ftrace_ops *op, struct ftrace_regs *fregs)
{
	struct dw_armed *a = container_of(op, struct dw_armed, ops);
	int bit = ftrace_test_recursion_trylock(ip, parent_ip);	/* disables preemption */
	u64 target;

	if (bit < 0)
		return;
	target = dw_select(a->slot, parent_ip, current->pid, raw_smp_processor_id());
	if (target)
		ftrace_instruction_pointer_set(fregs, target);
	ftrace_test_recursion_unlock(bit);
}

static void dw_copy_name(char *dst, const u8 *src, size_t len)
{
	len = min_t(size_t, len, KSYM_NAME_LEN - 1);
	memcpy(dst, src, len);
	dst[len] = 0;
}

bool dw_site_saved_bytes(unsigned long target, u8 *out)
{
	int i;

	for (i = 0; i < DW_MAX_SLOTS; i++) {
		if (dw_sites[i] && dw_sites[i]->target == target) {
			memcpy(out, dw_sites[i]->saved, DW_MAX_EXPECTED);
			return true;
		}
	}
	return false;
}

int dw_shim_resolve(const u8 *module, size_t mlen, const u8 *target, size_t tlen, u32 sympos,
		    const u8 *version, size_t vlen, struct dw_resolved *out, char *why, size_t cap)
{
	static char mod[KSYM_NAME_LEN], tgt[KSYM_NAME_LEN], ver[KSYM_NAME_LEN];
	unsigned long addr, size = 0, off = 0;

	dw_copy_name(mod, module, mlen);
	dw_copy_name(tgt, target, tlen);
	dw_copy_name(ver, version, vlen);
	memset(out, 0, sizeof(*out));

	/* sympos n: the n-th symbol of that name in kallsyms order (description v2). */
	addr = sympos ? dw_ksym(tgt, sympos) : dw_ksyms.lookup_name(tgt);
	if (!addr) {
		if (sympos)
			scnprintf(why, cap, "no symbol %s at position %u", tgt, sympos);
		else
			scnprintf(why, cap, "unknown symbol %s", tgt);
		return -ENOENT;
	}
	if (!dw_ksyms.lookup_size_offset(addr, &size, &off) || off != 0) {
		scnprintf(why, cap, "cannot find the extent of %s", tgt);
		return -ENOENT;
	}
	out->target = addr;
	out->target_size = size;
	out->ftrace_site = dw_ksyms.ftrace_location(addr) == addr;
	out->actual_len = DW_MAX_EXPECTED;
	/* Once we armed the site, ftrace changed its bytes: report what was there. */
	if (!dw_site_saved_bytes(addr, out->actual) &&
	    copy_from_kernel_nofault(out->actual, (void *)addr, DW_MAX_EXPECTED)) {
		scnprintf(why, cap, "cannot read the bytes of %s", tgt);
		return -EFAULT;
	}
	/* The length of the first instruction: a jmp may replace one whole instruction. */
	if (dw_ksyms.insn_decode) {
		struct insn insn;

		if (!dw_ksyms.insn_decode(&insn, out->actual, DW_MAX_EXPECTED, INSN_MODE_64))
			out->first_insn_len = insn.length;
	}

	if (dw_registry_lookup(mod, ver, out)) {
		scnprintf(why, cap, "version %s is not registered by module %s (is it loaded?)",
			  ver, mod);
		return -ENOENT;
	}
	if (!dw_ksyms.lookup_size_offset(out->version, &size, &off) || off != 0) {
		scnprintf(why, cap, "cannot find the extent of version %s", ver);
		return -ENOENT;
	}
	/* Prefer the ELF size the registry found; kallsyms' is an upper bound. */
	if (!out->version_size || out->version_size > size)
		out->version_size = size;
	/* A version split by gcc has text outside its extent: calls to the original
	 * from there would be redirected again, and stack checks would miss it. */
	if (strlen(mod) + strlen(ver) + 7 < KSYM_NAME_LEN) {
		static char cold[KSYM_NAME_LEN];

		snprintf(cold, sizeof(cold), "%s:%s.cold", mod, ver);
		if (dw_ksyms.lookup_name(cold)) {
			scnprintf(why, cap,
				  "version %s has a .cold part outside its text (build the update module with -fno-reorder-blocks-and-partition)",
				  ver);
			return -EINVAL;
		}
	}
	return 0;
}

int dw_shim_arm(u32 slot, u64 target, char *why, size_t cap)
{
	struct dw_armed *a;
	int ret;

	if (slot >= DW_MAX_SLOTS) {
		scnprintf(why, cap, "slot %u out of range", slot);
		return -EINVAL;
	}
	if (dw_sites[slot])
		return 0;
	a = kzalloc(sizeof(*a), GFP_KERNEL);
	if (!a)
		return -ENOMEM;
	a->slot = slot;
	a->target = target;
	if (copy_from_kernel_nofault(a->saved, (void *)(unsigned long)target, DW_MAX_EXPECTED)) {
		kfree(a);
		scnprintf(why, cap, "cannot read the site at %pS", (void *)(unsigned long)target);
		return -EFAULT;
	}
	a->ops.func = dw_ftrace_handler;
	/* No FTRACE_OPS_FL_RECURSION: the handler protects itself (trylock), so ftrace
	 * calls it directly instead of through its recursion-guarding assist function. */
	a->ops.flags = FTRACE_OPS_FL_DYNAMIC | FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_IPMODIFY;
	ret = ftrace_set_filter_ip(&a->ops, target, 0, 0);
	if (ret) {
		kfree(a);
		scnprintf(why, cap, "ftrace_set_filter_ip(%pS) failed: %d",
			  (void *)(unsigned long)target, ret);
		return ret;
	}
	ret = register_ftrace_function(&a->ops);
	if (ret) {
		ftrace_set_filter_ip(&a->ops, target, 1, 0);
		kfree(a);
		scnprintf(why, cap,
			  "register_ftrace_function(%pS) failed: %d (another IPMODIFY user such as livepatch?)",
			  (void *)(unsigned long)target, ret);
		return ret;
	}
	dw_sites[slot] = a;
	return 1;
}

void dw_shim_disarm(u32 slot)
{
	struct dw_armed *a;

	if (slot >= DW_MAX_SLOTS || !dw_sites[slot])
		return;
	a = dw_sites[slot];
	dw_sites[slot] = NULL;
	/* Returns once no CPU can be inside the handler any more. */
	WARN_ON(unregister_ftrace_function(&a->ops));
	ftrace_set_filter_ip(&a->ops, a->target, 1, 0);
	kfree(a);
}

void dw_redirect_exit(void)
{
	u32 i;

	for (i = 0; i < DW_MAX_SLOTS; i++)
		dw_shim_disarm(i);
}

int dw_shim_write_site(u64 addr, const u8 *old, const u8 *new, size_t len, char *why, size_t cap)
{
	void *site = (void *)(unsigned long)addr;
	u8 cur[DW_MAX_EXPECTED];
	int ret = 0;

	if (len == 0 || len > DW_MAX_EXPECTED)
		return -EINVAL;
	mutex_lock(dw_ksyms.text_mutex);
	if (copy_from_kernel_nofault(cur, site, len)) {
		scnprintf(why, cap, "cannot read the site at %pS", site);
		ret = -EFAULT;
	} else if (memcmp(cur, old, len)) {
		scnprintf(why, cap, "bytes at %pS changed: expected %*ph, found %*ph",
			  site, (int)len, old, (int)len, cur);
		ret = -EBUSY;
	} else {
		/*
		 * text_poke_bp emulates, while its int3 guards the site, an instruction it
		 * knows (a jmp, a call, a NOP). Putting back the original instruction of a
		 * notrace function is not one: a CPU arriving meanwhile takes the jump that is
		 * being replaced, as it would have a moment earlier.
		 */
		static const u8 nop5[5] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
		bool known = len == 5 && (new[0] == 0xe9 || new[0] == 0xe8 || !memcmp(new, nop5, 5));
		const void *emulate = NULL;

		if (!known && len == 5 && old[0] == 0xe9)
			emulate = old;
		else if (!known)
			ret = -EINVAL;
		if (ret)
			scnprintf(why, cap, "cannot write %*ph at %pS: not a jmp, call or NOP, nor replacing one",
				  (int)len, new, site);
		else
			dw_ksyms.text_poke_bp(site, new, len, emulate);
	}
	mutex_unlock(dw_ksyms.text_mutex);
	return ret;
}

void dw_shim_sync(void)
{
	/*
	 * The dispatcher runs with preemption disabled: this waits for every caller.
	 * Expedited, because a normal grace period can wait for as long as a CPU-bound
	 * task (possibly the very holder the revert is about to name) keeps its CPU.
	 */
	synchronize_rcu_expedited();
}

int dw_shim_call_predicate(u64 addr)
{
	bool (*pred)(void) = (void *)(unsigned long)addr;

	return pred();
}

void __noreturn dw_shim_rust_panic(void)
{
	panic("dynwalk: the Rust runtime panicked");
}

/* The dispatcher lives in the Rust object; a self-update may wrap it. */
EXPORT_SYMBOL_GPL(dw_rt_select_core);
