#ifndef DEMO_H
#define DEMO_H
struct demo_obj {
	int id;
	int flags;
};
int demo_show(int x);
#endif
