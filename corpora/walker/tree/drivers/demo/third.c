// SPDX-License-Identifier: GPL-2.0
/* A third file: its own static `report`, as other.c has one (two kernel symbols). */
static int third_calls;
static int report(void)
{
	return third_calls;
}
int third_entry(void)
{
	third_calls++;
	return report();
}
