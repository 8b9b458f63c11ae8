# Scenario 5: shadow fields attached to objects of dwt_target's struct dwt_obj by the
# new versions: created on use, read, freed with the object.
echo "obj alloc 3" > /proc/dwt
must_load obj
must apply obj
echo "obj use" > /proc/dwt
echo "obj use" > /proc/dwt
expect_eq "$(dmesg | grep 'dwt: obj use: sum=' | tail -1 | sed 's/.*sum=//')" 6006 \
  "shadow counters created and read (1002+2002+3002)"
ctl status
expect_eq "$(field "$R" "objects")" "3" "three shadow fields attached"
echo "obj free" > /proc/dwt
expect_eq "$(field "$(dmesg | grep 'release obj 2')" "uses")" "2" "release reads the shadow field"
ctl status
expect_eq "$(field "$R" "objects")" "0" "shadow fields freed with their objects"
must revert obj
