// SPDX-License-Identifier: GPL-2.0-only
/*
 * dwt_cold: an update module built the wrong way, with gcc's hot/cold splitting
 * (no -fno-reorder-blocks-and-partition).  Its version has a .cold part outside
 * its symbol; the runtime refuses to load a description that uses it.
 */
#define pr_fmt(fmt) "dwt_cold: " fmt

#include <linux/module.h>
#include <linux/printk.h>
#include "dynwalk.h"

int dwt_value(int x);

DW_DEFINE_VERSION(int, dwt_value_split, (int x), (x))
{
	if (unlikely(x == 12345)) {
		pr_err("unlikely argument %d\n", x);
		dump_stack();
		return dwt_value(x) - 1;
	}
	return x + 7;
}

static int __init dwc_init(void)
{
	return DW_REGISTER(dwt_value_split, NULL);
}

static void __exit dwc_exit(void)
{
}

module_init(dwc_init);
module_exit(dwc_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("dynwalk guest test: a version split by gcc");
