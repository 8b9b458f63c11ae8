/* read(2) and write(2): 2.4's asmlinkage form and the modern SYSCALL_DEFINE form. */
#include <linux/fs.h>
#include <linux/sched.h>

ssize_t vfs_read(struct file *file, char *buf, size_t count, loff_t *pos)
{
	ssize_t ret = -9;

	if (file->f_op && file->f_op->read)
		ret = file->f_op->read(file, buf, count, pos);
	return ret;
}

asmlinkage ssize_t sys_read(unsigned int fd, char * buf, size_t count)
{
	ssize_t ret = -9;
	struct file * file;

	file = fget(fd);
	if (file) {
		ret = vfs_read(file, buf, count, &file->f_pos);
		fput(file);
	}
	return ret;
}

#define SYSCALL_DEFINE3(name, t1, a1, t2, a2, t3, a3) \
	long sys_##name(t1 a1, t2 a2, t3 a3)

SYSCALL_DEFINE3(write, unsigned int, fd, const char *, buf, size_t, count)
{
	struct file *file = fget(fd);
	ssize_t ret = -9;

	if (file) {
		ssize_t (*write)(struct file *, const char *, size_t, loff_t *) = file->f_op->write;
		if (write)
			ret = (*write)(file, buf, count, &file->f_pos);
		fput(file);
	}
	return ret;
}
