// SPDX-License-Identifier: GPL-2.0
/* Walker fixture: system calls defined through SYSCALL_DEFINEn. */
#include <linux/syscalls.h>

static int demo_level;

SYSCALL_DEFINE1(demolevel, int, level)
{
	int old = demo_level;

	demo_level = level;
	return old;
}

SYSCALL_DEFINE0(demoreset)
{
	demo_level = 0;
	return 0;
}
