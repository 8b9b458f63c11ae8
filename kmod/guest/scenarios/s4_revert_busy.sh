# Scenario 4: revert refused while a task sleeps inside the new version, named in the
# refusal; it goes through once the task has left.
must_load sleepy
must apply sleepy
echo "sleep 4000" > /proc/dwt
sleep 1
if ctl revert sleepy 500; then
  fail "revert went through while dwt_sleeper sleeps in dwt_sleepy_v2: $R"
else
  expect_in "$R" "still in use after 500 ms" "revert refused: $R"
  expect_in "$R" "(dwt_sleeper) at dwt_sleepy_v2" "refusal names the holder and where"
  expect_in "$R" ": 1 active invocation(s);" "refusal counts the active invocation"
fi
ctl status
expect_in "$R" "update sleepy applied" "update still applied after the refusal"
line=$(echo "$R" | grep "fn dwt_sleepy -> dwt_sleepy_v2 group=0 method=ftrace ")
expect_eq "$(field " $line" "active")" "1" "status counts the invocation active in the version"
must revert sleepy 10000
expect_in "$(dmesg | grep 'sleeper returned')" "sleeper returned 2" "sleeper finished in the version it entered"

# A task running (busy, never sleeping) inside the version: its PC, sampled by an IPI
# on its CPU, names it.
must_load spin
must apply spin
taskset -p 1 $$ > /dev/null   # this shell on cpu 0; the spinner is bound to the last cpu
echo "spin 3000" > /proc/dwt
sleep 0.5
if ctl revert spin 300; then
  fail "revert went through while dwt_spinner runs in dwt_spin_v2: $R"
else
  expect_in "$R" "(dwt_spinner) running at dwt_spin_v2" "running holder named by its PC: $R"
fi
must revert spin 10000
expect_in "$(dmesg | grep 'spinner returned')" "spinner returned 2" "spinner finished in its version"
echo stop > /proc/dwt
