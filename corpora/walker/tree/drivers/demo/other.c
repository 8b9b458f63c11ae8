// SPDX-License-Identifier: GPL-2.0
/* Another file with a static `counter`: the kernel has two symbols of that name. */
static int counter;
static int other_work(void)
{
	return counter++;
}
int other_entry(void)
{
	return other_work();
}
static int report(void)
{
	return 1;
}
int other_report(void)
{
	return report() + 1;
}
