// SPDX-License-Identifier: GPL-2.0-only
/*
 * dwt_nocrc: a module built without the runtime's Module.symvers, so its __versions
 * table has no CRC for dw_ksym. Debian's kernel refuses such a module (its fix
 * module-disable-matching-missing-version-crc.patch: fail closed); without the fix the
 * kernel warns and loads it. Guest case w6 switches that fix out and in live.
 */
#include <linux/module.h>

unsigned long dw_ksym(const char *name, unsigned long sympos);

static int __init dwt_nocrc_init(void)
{
	pr_info("dwt_nocrc: loaded (jiffies at %s)\n", dw_ksym("jiffies", 0) ? "found" : "missing");
	return 0;
}

static void __exit dwt_nocrc_exit(void)
{
}

module_init(dwt_nocrc_init);
module_exit(dwt_nocrc_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("a module with a missing symbol version CRC (dynwalk guest case w6)");
