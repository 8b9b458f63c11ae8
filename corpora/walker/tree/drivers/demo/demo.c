// SPDX-License-Identifier: GPL-2.0
#include <linux/kernel.h>
#include <linux/module.h>
#include "demo.h"

static int counter;
static int spare;
static int demo_flags;
/* Never used before the patch: gcc dropped it, the kernel has no symbol. */
static int hidden;
int demo_total = 1;
static const int weights[] = { 1, 2, 3 };

#define BUMP() (counter++)

static inline int scale(int x)
{
	return x * weights[1];
}

/* gcc keeps this one out of line: the kernel has its symbol. */
static int slow_helper(int x)
{
	return x + spare;
}

/* gcc inlined this one everywhere: no symbol. */
static int folded(int x)
{
	return x - 1;
}

int demo_show(int x)
{
	BUMP();
	demo_total += x;
	return scale(x) + slow_helper(x) + folded(x);
}
EXPORT_SYMBOL(demo_show);

static int __init demo_init(void)
{
	return demo_show(0);
}
module_init(demo_init);
