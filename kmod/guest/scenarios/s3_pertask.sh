# Scenario 3: two versions live at once, selected per task (and per cpu, and by a
# predicate on the task's name).
must_load value2
must_load value3
must apply value2
must apply value3
expect_eq "$(cat /proc/dwt)" "value=202" "newest (v3, which calls the original) for everyone"
# This subshell gets value2; everyone else keeps value3.
mine=$(sh -c 'printf "policy dwt_value task $$ value2" > /dev/dynwalk; exec cat /proc/dwt')
expect_eq "$mine" "value=101" "task with the per-task policy runs value2"
expect_eq "$(cat /proc/dwt)" "value=202" "other tasks run value3 at the same time"
must policy dwt_value cpu 1 value2
expect_eq "$(taskset -c 1 cat /proc/dwt)" "value=101" "cpu 1 runs value2"
expect_eq "$(taskset -c 0 cat /proc/dwt)" "value=202" "cpu 0 runs value3"
must policy dwt_value pin original
expect_eq "$(cat /proc/dwt)" "value=2" "pinned to the original"
must_load value4
must apply value4
printf '#!/bin/sh\nread v < /proc/dwt; echo "$v"\n' > /tmp/predcheck.sh
cp /tmp/predcheck.sh /tmp/other.sh
chmod +x /tmp/predcheck.sh /tmp/other.sh
expect_eq "$(/tmp/predcheck.sh)" "value=401" "predicate (comm starts with pred) selects value4"
expect_eq "$(/tmp/other.sh)" "value=202" "predicate false: next newest version"
must policy dwt_value newest
expect_eq "$(cat /proc/dwt)" "value=401" "newest is value4"
must revert value4
must revert value3
expect_eq "$(cat /proc/dwt)" "value=101" "after reverting v3, newest is value2"
must revert value2
expect_eq "$(cat /proc/dwt)" "value=2" "original after reverting all"
