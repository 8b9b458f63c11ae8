# Not a test: prints the guest kernel's vmlinux symbols (its /proc/kallsyms without
# module symbols), gzip'd and base64'd between markers, for `dynwalk update --kallsyms`
# on the host (run-suite.sh caches them per kernel version).
echo 1 > /proc/sys/kernel/printk
n=$(grep -vc '\[' /proc/kallsyms)
echo "DW-KALLSYMS-BEGIN $n"
grep -v '\[' /proc/kallsyms | gzip -1 | base64
echo "DW-KALLSYMS-END"
ok "kallsyms: $n vmlinux symbols"
