;; The histogram kernel of tree growing, in WebAssembly: the same loop as the JavaScript one in
;; histogram.ts, without bounds checks or number conversions, about three times as fast. It runs
;; on one shared memory from the main thread and every worker.
;;
;; hist(col, idx, grad, hess, n, a, b): for the n rows listed at idx (u32), reads each row's bin
;; code from col (u8) and adds [1, hess, grad] (f32 each, from position-aligned arrays) to the bin's
;; three f64 in a (even positions) or b (odd positions). With hess = 0 the hessian is not read.
;; Two partial histograms break the dependency between consecutive rows in the same bin.
;;
;; combine(a, b, out, len): out[j] = a[j] + b[j] for len f64, then a and b are zeroed.
;;
;; subtract(out, b, len): out[j] -= b[j] for len f64 (a sibling's histogram from its parent's).
;;
;; scan(hist, bins, missing, total, hTotal, g0, parentScore, minLeaf, minH, l2, unitHessian, best, res):
;; the best threshold of one numeric feature's histogram (bins codes of [count, hessian, gradient]
;; f64 at hist, the missing code's at missing), missing values sent right then left, as the split
;; search in grower.ts does. When a split beats `best` it writes [gain, t, missingLeft, nl, hl, gL]
;; (f64) at res and returns 1, else returns 0.
;;
;; partition(idx, start, count, col, left, scratch): keeps the rows idx[start … start+count) whose
;; bin code c has left[c] = 1 first (order kept), the others after them; returns how many went left.
;;
;; gather(idx, n, g, h, outG, outH): outG[i] = g[idx[i]] (and outH[i] = h[idx[i]] unless h = 0).
;;
;; bin(values, n, edges, out, missing): the bin code of n f64 values: the number of the 255 edges
;; (ascending, padded with +Infinity) below the value, by a branch-free binary search; NaN → missing.
;;
;; Rebuild kernel-wasm.ts after editing: npx tsx scripts/build-wasm.ts
(module
  (import "env" "memory" (memory 1 65536 shared))

  (func $hist (export "hist") (param $col i32) (param $idx i32) (param $g i32) (param $h i32) (param $n i32) (param $a i32) (param $b i32)
    (local $end i32) (local $u i32) (local $v i32)
    (local.set $end (i32.add (local.get $idx) (i32.shl (i32.and (local.get $n) (i32.const -2)) (i32.const 2))))
    (if (local.get $h)
      (then
        (block $done
          (br_if $done (i32.ge_u (local.get $idx) (local.get $end)))
          (loop $rows
            (local.set $u (i32.add (local.get $a) (i32.mul (i32.load8_u (i32.add (local.get $col) (i32.load (local.get $idx)))) (i32.const 24))))
            (local.set $v (i32.add (local.get $b) (i32.mul (i32.load8_u (i32.add (local.get $col) (i32.load offset=4 (local.get $idx)))) (i32.const 24))))
            (f64.store (local.get $u) (f64.add (f64.load (local.get $u)) (f64.const 1)))
            (f64.store offset=8 (local.get $u) (f64.add (f64.load offset=8 (local.get $u)) (f64.promote_f32 (f32.load (local.get $h)))))
            (f64.store offset=16 (local.get $u) (f64.add (f64.load offset=16 (local.get $u)) (f64.promote_f32 (f32.load (local.get $g)))))
            (f64.store (local.get $v) (f64.add (f64.load (local.get $v)) (f64.const 1)))
            (f64.store offset=8 (local.get $v) (f64.add (f64.load offset=8 (local.get $v)) (f64.promote_f32 (f32.load offset=4 (local.get $h)))))
            (f64.store offset=16 (local.get $v) (f64.add (f64.load offset=16 (local.get $v)) (f64.promote_f32 (f32.load offset=4 (local.get $g)))))
            (local.set $idx (i32.add (local.get $idx) (i32.const 8)))
            (local.set $g (i32.add (local.get $g) (i32.const 8)))
            (local.set $h (i32.add (local.get $h) (i32.const 8)))
            (br_if $rows (i32.lt_u (local.get $idx) (local.get $end)))))
        (if (i32.and (local.get $n) (i32.const 1))
          (then
            (local.set $u (i32.add (local.get $a) (i32.mul (i32.load8_u (i32.add (local.get $col) (i32.load (local.get $idx)))) (i32.const 24))))
            (f64.store (local.get $u) (f64.add (f64.load (local.get $u)) (f64.const 1)))
            (f64.store offset=8 (local.get $u) (f64.add (f64.load offset=8 (local.get $u)) (f64.promote_f32 (f32.load (local.get $h)))))
            (f64.store offset=16 (local.get $u) (f64.add (f64.load offset=16 (local.get $u)) (f64.promote_f32 (f32.load (local.get $g))))))))
      (else
        (block $done
          (br_if $done (i32.ge_u (local.get $idx) (local.get $end)))
          (loop $rows
            (local.set $u (i32.add (local.get $a) (i32.mul (i32.load8_u (i32.add (local.get $col) (i32.load (local.get $idx)))) (i32.const 24))))
            (local.set $v (i32.add (local.get $b) (i32.mul (i32.load8_u (i32.add (local.get $col) (i32.load offset=4 (local.get $idx)))) (i32.const 24))))
            (f64.store (local.get $u) (f64.add (f64.load (local.get $u)) (f64.const 1)))
            (f64.store offset=16 (local.get $u) (f64.add (f64.load offset=16 (local.get $u)) (f64.promote_f32 (f32.load (local.get $g)))))
            (f64.store (local.get $v) (f64.add (f64.load (local.get $v)) (f64.const 1)))
            (f64.store offset=16 (local.get $v) (f64.add (f64.load offset=16 (local.get $v)) (f64.promote_f32 (f32.load offset=4 (local.get $g)))))
            (local.set $idx (i32.add (local.get $idx) (i32.const 8)))
            (local.set $g (i32.add (local.get $g) (i32.const 8)))
            (br_if $rows (i32.lt_u (local.get $idx) (local.get $end)))))
        (if (i32.and (local.get $n) (i32.const 1))
          (then
            (local.set $u (i32.add (local.get $a) (i32.mul (i32.load8_u (i32.add (local.get $col) (i32.load (local.get $idx)))) (i32.const 24))))
            (f64.store (local.get $u) (f64.add (f64.load (local.get $u)) (f64.const 1)))
            (f64.store offset=16 (local.get $u) (f64.add (f64.load offset=16 (local.get $u)) (f64.promote_f32 (f32.load (local.get $g))))))))))

  (func $combine (export "combine") (param $a i32) (param $b i32) (param $out i32) (param $len i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $len) (i32.const 3))))
    (block $done
      (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
      (loop $cells
        (f64.store (local.get $out) (f64.add (f64.load (local.get $a)) (f64.load (local.get $b))))
        (f64.store (local.get $a) (f64.const 0))
        (f64.store (local.get $b) (f64.const 0))
        (local.set $a (i32.add (local.get $a) (i32.const 8)))
        (local.set $b (i32.add (local.get $b) (i32.const 8)))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (br_if $cells (i32.lt_u (local.get $a) (local.get $end))))))
  (func $partition (export "partition") (param $idx i32) (param $start i32) (param $count i32) (param $col i32) (param $left i32) (param $scratch i32) (result i32)
    (local $p i32) (local $end i32) (local $w i32) (local $r i32) (local $row i32) (local $nr i32) (local $go i32)
    (local.set $p (i32.add (local.get $idx) (i32.shl (local.get $start) (i32.const 2))))
    (local.set $w (local.get $p))
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $count) (i32.const 2))))
    (local.set $r (local.get $scratch))
    (block $done
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (loop $rows
        ;; Branch-free: the row is written to both sides, and only one side's cursor moves.
        (local.set $row (i32.load (local.get $p)))
        (local.set $go (i32.load8_u (i32.add (local.get $left) (i32.load8_u (i32.add (local.get $col) (local.get $row))))))
        (i32.store (local.get $w) (local.get $row))
        (i32.store (local.get $r) (local.get $row))
        (local.set $w (i32.add (local.get $w) (i32.shl (local.get $go) (i32.const 2))))
        (local.set $r (i32.add (local.get $r) (i32.shl (i32.xor (local.get $go) (i32.const 1)) (i32.const 2))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br_if $rows (i32.lt_u (local.get $p) (local.get $end)))))
    ;; Append the right-going rows after the left ones.
    (local.set $nr (i32.sub (local.get $r) (local.get $scratch)))
    (memory.copy (local.get $w) (local.get $scratch) (local.get $nr))
    (i32.shr_u (i32.sub (local.get $w) (i32.add (local.get $idx) (i32.shl (local.get $start) (i32.const 2)))) (i32.const 2)))

  (func $gather (export "gather") (param $idx i32) (param $n i32) (param $g i32) (param $h i32) (param $outG i32) (param $outH i32)
    (local $end i32) (local $row i32)
    (local.set $end (i32.add (local.get $idx) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (br_if $done (i32.ge_u (local.get $idx) (local.get $end)))
      (loop $rows
        (local.set $row (i32.shl (i32.load (local.get $idx)) (i32.const 2)))
        (f32.store (local.get $outG) (f32.load (i32.add (local.get $g) (local.get $row))))
        (if (local.get $h)
          (then (f32.store (local.get $outH) (f32.load (i32.add (local.get $h) (local.get $row))))))
        (local.set $idx (i32.add (local.get $idx) (i32.const 4)))
        (local.set $outG (i32.add (local.get $outG) (i32.const 4)))
        (local.set $outH (i32.add (local.get $outH) (i32.const 4)))
        (br_if $rows (i32.lt_u (local.get $idx) (local.get $end))))))

  (func $bin (export "bin") (param $values i32) (param $n i32) (param $edges i32) (param $out i32) (param $missing i32)
    (local $end i32) (local $v f64) (local $pos i32) (local $step i32)
    (local.set $end (i32.add (local.get $values) (i32.shl (local.get $n) (i32.const 3))))
    (block $done
      (br_if $done (i32.ge_u (local.get $values) (local.get $end)))
      (loop $rows
        (local.set $v (f64.load (local.get $values)))
        (local.set $pos (i32.const 0))
        (local.set $step (i32.const 128))
        (loop $search
          (local.set $pos
            (select
              (i32.add (local.get $pos) (local.get $step))
              (local.get $pos)
              (f64.lt (f64.load (i32.add (local.get $edges) (i32.shl (i32.add (local.get $pos) (i32.sub (local.get $step) (i32.const 1))) (i32.const 3)))) (local.get $v))))
          (local.set $step (i32.shr_u (local.get $step) (i32.const 1)))
          (br_if $search (local.get $step)))
        (i32.store8 (local.get $out) (select (local.get $pos) (local.get $missing) (f64.eq (local.get $v) (local.get $v))))
        (local.set $values (i32.add (local.get $values) (i32.const 8)))
        (local.set $out (i32.add (local.get $out) (i32.const 1)))
        (br_if $rows (i32.lt_u (local.get $values) (local.get $end))))))
  (func $subtract (export "subtract") (param $out i32) (param $b i32) (param $len i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $len) (i32.const 3))))
    (block $done
      (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
      (loop $cells
        (f64.store (local.get $out) (f64.sub (f64.load (local.get $out)) (f64.load (local.get $b))))
        (local.set $out (i32.add (local.get $out) (i32.const 8)))
        (local.set $b (i32.add (local.get $b) (i32.const 8)))
        (br_if $cells (i32.lt_u (local.get $out) (local.get $end))))))
  (func $scan (export "scan")
    (param $hist i32) (param $bins i32) (param $missing i32) (param $total f64) (param $hTotal f64) (param $g0 f64)
    (param $parent f64) (param $minLeaf f64) (param $minH f64) (param $l2 f64) (param $unit i32) (param $best f64) (param $res i32)
    (result i32)
    (local $t i32) (local $o i32) (local $cnt f64) (local $nl f64) (local $hl f64) (local $gL f64)
    (local $nm f64) (local $hm f64) (local $gm f64) (local $nl2 f64) (local $hl2 f64) (local $gL2 f64)
    (local $hr f64) (local $gR f64) (local $gain f64) (local $found i32) (local $last i32)
    (local.set $nm (f64.load (local.get $missing)))
    (local.set $hm (select (local.get $nm) (f64.load offset=8 (local.get $missing)) (local.get $unit)))
    (local.set $gm (f64.load offset=16 (local.get $missing)))
    (local.set $last (i32.sub (local.get $bins) (i32.const 1)))
    (block $done
      (br_if $done (i32.le_s (local.get $last) (i32.const 0)))
      (loop $bins
        (local.set $o (i32.add (local.get $hist) (i32.mul (local.get $t) (i32.const 24))))
        (local.set $cnt (f64.load (local.get $o)))
        (if (f64.ne (local.get $cnt) (f64.const 0))
          (then
            (local.set $nl (f64.add (local.get $nl) (local.get $cnt)))
            (local.set $hl (f64.add (local.get $hl) (select (local.get $cnt) (f64.load offset=8 (local.get $o)) (local.get $unit))))
            (local.set $gL (f64.add (local.get $gL) (f64.load offset=16 (local.get $o))))
            ;; Missing values to the right.
            (if (i32.and (f64.ge (local.get $nl) (local.get $minLeaf)) (f64.ge (f64.sub (local.get $total) (local.get $nl)) (local.get $minLeaf)))
              (then
                (local.set $hr (f64.sub (local.get $hTotal) (local.get $hl)))
                (if (i32.and (f64.ge (local.get $hl) (local.get $minH)) (f64.ge (local.get $hr) (local.get $minH)))
                  (then
                    (local.set $gR (f64.sub (local.get $g0) (local.get $gL)))
                    (local.set $gain (f64.sub (f64.add (f64.div (f64.mul (local.get $gL) (local.get $gL)) (f64.add (local.get $hl) (local.get $l2)))
                                                       (f64.div (f64.mul (local.get $gR) (local.get $gR)) (f64.add (local.get $hr) (local.get $l2))))
                                              (local.get $parent)))
                    (if (f64.gt (local.get $gain) (local.get $best))
                      (then
                        (local.set $best (local.get $gain))
                        (local.set $found (i32.const 1))
                        (f64.store (local.get $res) (local.get $gain))
                        (f64.store offset=8 (local.get $res) (f64.convert_i32_s (local.get $t)))
                        (f64.store offset=16 (local.get $res) (f64.const 0))
                        (f64.store offset=24 (local.get $res) (local.get $nl))
                        (f64.store offset=32 (local.get $res) (local.get $hl))
                        (f64.store offset=40 (local.get $res) (local.get $gL))))))))
            ;; Missing values to the left.
            (if (f64.gt (local.get $nm) (f64.const 0))
              (then
                (local.set $nl2 (f64.add (local.get $nl) (local.get $nm)))
                (local.set $hl2 (f64.add (local.get $hl) (local.get $hm)))
                (local.set $gL2 (f64.add (local.get $gL) (local.get $gm)))
                (if (i32.and (f64.ge (local.get $nl2) (local.get $minLeaf)) (f64.ge (f64.sub (local.get $total) (local.get $nl2)) (local.get $minLeaf)))
                  (then
                    (local.set $hr (f64.sub (local.get $hTotal) (local.get $hl2)))
                    (if (i32.and (f64.ge (local.get $hl2) (local.get $minH)) (f64.ge (local.get $hr) (local.get $minH)))
                      (then
                        (local.set $gR (f64.sub (local.get $g0) (local.get $gL2)))
                        (local.set $gain (f64.sub (f64.add (f64.div (f64.mul (local.get $gL2) (local.get $gL2)) (f64.add (local.get $hl2) (local.get $l2)))
                                                           (f64.div (f64.mul (local.get $gR) (local.get $gR)) (f64.add (local.get $hr) (local.get $l2))))
                                                  (local.get $parent)))
                        (if (f64.gt (local.get $gain) (local.get $best))
                          (then
                            (local.set $best (local.get $gain))
                            (local.set $found (i32.const 1))
                            (f64.store (local.get $res) (local.get $gain))
                            (f64.store offset=8 (local.get $res) (f64.convert_i32_s (local.get $t)))
                            (f64.store offset=16 (local.get $res) (f64.const 1))
                            (f64.store offset=24 (local.get $res) (local.get $nl2))
                            (f64.store offset=32 (local.get $res) (local.get $hl2))
                            (f64.store offset=40 (local.get $res) (local.get $gL2))))))))))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br_if $bins (i32.lt_s (local.get $t) (local.get $last)))))
    (local.get $found))
)
