;; Tree-ensemble prediction in WebAssembly: the node walk of `ensembleRawJs` (tree.ts), eight rows at a
;; time in lockstep so that their chains of dependent loads overlap (numeric splits choose a child
;; with `select`, not a branch; a categorical split is a branch). The rows of a batch past the last
;; multiple of eight are walked one at a time.
;;
;; predict(nodes, roots, outputsOf, trees, bits, values, x, n, p, out, k): for n rows of p f64 at
;; x, adds each tree's leaf value(s) to out (n × k f64). A node is 32 bytes at nodes + 32 · index:
;; threshold f64, feature i32, left i32, right i32, missingLeft i32, catAt i32 (byte offset of
;; [words, bits…] u32 in bits, or -1 for a numeric split), valueAt i32 (index in values for a
;; leaf, -1 for an internal node). A leaf is its own left and right child, with threshold +Infinity
;; and feature 0, so a row that reached its leaf steps in place while the others finish.
;; outputsOf[t] is the output tree t adds to, or -1 for a vector leaf over all k outputs.
;;
;; This file is generated with its four lanes written out; rebuild predict-wasm.ts after editing:
;; npx tsx scripts/build-wasm.ts
(module
  (import "env" "memory" (memory 1 65536))

  ;; The child for category code v at a categorical node: left when the code is in the set.
  (func $category (param $node i32) (param $v f64) (param $bits i32) (param $cat i32) (result i32)
    (local $code i32) (local $word i32)
    (if (i32.and (f64.ge (local.get $v) (f64.const 0)) (f64.lt (local.get $v) (f64.const 1e9)))
      (then
        (local.set $code (i32.trunc_f64_u (local.get $v)))
        (local.set $word (i32.shr_u (local.get $code) (i32.const 5)))
        (if (i32.lt_u (local.get $word) (i32.load (i32.add (local.get $bits) (local.get $cat))))
          (then
            (if (i32.and (i32.shr_u (i32.load offset=4 (i32.add (i32.add (local.get $bits) (local.get $cat)) (i32.shl (local.get $word) (i32.const 2))))
                                    (i32.and (local.get $code) (i32.const 31))) (i32.const 1))
              (then (return (i32.load offset=12 (local.get $node)))))))))
    (i32.load offset=16 (local.get $node)))

  ;; Adds the leaf's value(s) to a row's outputs.
  (func $addLeaf (param $node i32) (param $o i32) (param $values i32) (param $outputsOf i32) (param $t i32) (param $k i32)
    (local $va i32) (local $j i32) (local $target i32)
    (local.set $va (i32.add (local.get $values) (i32.shl (i32.load offset=28 (local.get $node)) (i32.const 3))))
    (local.set $j (i32.load (i32.add (local.get $outputsOf) (i32.shl (local.get $t) (i32.const 2)))))
    (if (i32.ge_s (local.get $j) (i32.const 0))
      (then
        (local.set $target (i32.add (local.get $o) (i32.shl (local.get $j) (i32.const 3))))
        (f64.store (local.get $target) (f64.add (f64.load (local.get $target)) (f64.load (local.get $va)))))
      (else
        (local.set $j (i32.const 0))
        (loop $vec
          (local.set $target (i32.add (local.get $o) (i32.shl (local.get $j) (i32.const 3))))
          (f64.store (local.get $target) (f64.add (f64.load (local.get $target)) (f64.load (i32.add (local.get $va) (i32.shl (local.get $j) (i32.const 3))))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $vec (i32.lt_s (local.get $j) (local.get $k)))))))

  (func $predict (export "predict")
    (param $nodes i32) (param $roots i32) (param $outputsOf i32) (param $trees i32) (param $bits i32) (param $values i32)
    (param $x i32) (param $n i32) (param $p i32) (param $out i32) (param $k i32)
    (local $i i32) (local $t i32) (local $root i32) (local $cat i32) (local $tg i32) (local $quads i32)
    (local $na i32) (local $ra i32) (local $oa i32) (local $va f64) (local $nb i32) (local $rb i32) (local $ob i32) (local $vb f64) (local $nc i32) (local $rc i32) (local $oc i32) (local $vc f64) (local $nd i32) (local $rd i32) (local $od i32) (local $vd f64) (local $ne i32) (local $re i32) (local $oe i32) (local $ve f64) (local $nf i32) (local $rf i32) (local $of i32) (local $vf f64) (local $ng i32) (local $rg i32) (local $og i32) (local $vg f64) (local $nh i32) (local $rh i32) (local $oh i32) (local $vh f64)
    (local.set $quads (i32.and (local.get $n) (i32.const -8)))
    (block $quadsDone
      (br_if $quadsDone (i32.ge_u (local.get $i) (local.get $quads)))
      (loop $rows
        (local.set $ra (i32.add (local.get $x) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $p)) (i32.const 3))))
        (local.set $oa (i32.add (local.get $out) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const 0)) (local.get $k)) (i32.const 3))))
        (local.set $rb (i32.add (local.get $x) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $p)) (i32.const 3))))
        (local.set $ob (i32.add (local.get $out) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $k)) (i32.const 3))))
        (local.set $rc (i32.add (local.get $x) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $p)) (i32.const 3))))
        (local.set $oc (i32.add (local.get $out) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const 2)) (local.get $k)) (i32.const 3))))
        (local.set $rd (i32.add (local.get $x) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $p)) (i32.const 3))))
        (local.set $od (i32.add (local.get $out) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const 3)) (local.get $k)) (i32.const 3))))
        (local.set $re (i32.add (local.get $x) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const 4)) (local.get $p)) (i32.const 3))))
        (local.set $oe (i32.add (local.get $out) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const 4)) (local.get $k)) (i32.const 3))))
        (local.set $rf (i32.add (local.get $x) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const 5)) (local.get $p)) (i32.const 3))))
        (local.set $of (i32.add (local.get $out) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const 5)) (local.get $k)) (i32.const 3))))
        (local.set $rg (i32.add (local.get $x) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const 6)) (local.get $p)) (i32.const 3))))
        (local.set $og (i32.add (local.get $out) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const 6)) (local.get $k)) (i32.const 3))))
        (local.set $rh (i32.add (local.get $x) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const 7)) (local.get $p)) (i32.const 3))))
        (local.set $oh (i32.add (local.get $out) (i32.shl (i32.mul (i32.add (local.get $i) (i32.const 7)) (local.get $k)) (i32.const 3))))
        (local.set $t (i32.const 0))
        (loop $treeLoop
          (local.set $root (i32.add (local.get $nodes) (i32.shl (i32.load (i32.add (local.get $roots) (i32.shl (local.get $t) (i32.const 2)))) (i32.const 5))))
          (local.set $na (local.get $root))
          (local.set $nb (local.get $root))
          (local.set $nc (local.get $root))
          (local.set $nd (local.get $root))
          (local.set $ne (local.get $root))
          (local.set $nf (local.get $root))
          (local.set $ng (local.get $root))
          (local.set $nh (local.get $root))
          (loop $walk
          (local.set $va (f64.load (i32.add (local.get $ra) (i32.shl (i32.load offset=8 (local.get $na)) (i32.const 3)))))
          (local.set $cat (i32.load offset=24 (local.get $na)))
          (if (f64.ne (local.get $va) (local.get $va))
            (then (local.set $tg (select (i32.load offset=12 (local.get $na)) (i32.load offset=16 (local.get $na)) (i32.load offset=20 (local.get $na)))))
            (else
              (if (i32.lt_s (local.get $cat) (i32.const 0))
                (then (local.set $tg (select (i32.load offset=12 (local.get $na)) (i32.load offset=16 (local.get $na)) (f64.le (local.get $va) (f64.load (local.get $na))))))
                (else (local.set $tg (call $category (local.get $na) (local.get $va) (local.get $bits) (local.get $cat)))))))
          (local.set $na (i32.add (local.get $nodes) (i32.shl (local.get $tg) (i32.const 5))))
          (local.set $vb (f64.load (i32.add (local.get $rb) (i32.shl (i32.load offset=8 (local.get $nb)) (i32.const 3)))))
          (local.set $cat (i32.load offset=24 (local.get $nb)))
          (if (f64.ne (local.get $vb) (local.get $vb))
            (then (local.set $tg (select (i32.load offset=12 (local.get $nb)) (i32.load offset=16 (local.get $nb)) (i32.load offset=20 (local.get $nb)))))
            (else
              (if (i32.lt_s (local.get $cat) (i32.const 0))
                (then (local.set $tg (select (i32.load offset=12 (local.get $nb)) (i32.load offset=16 (local.get $nb)) (f64.le (local.get $vb) (f64.load (local.get $nb))))))
                (else (local.set $tg (call $category (local.get $nb) (local.get $vb) (local.get $bits) (local.get $cat)))))))
          (local.set $nb (i32.add (local.get $nodes) (i32.shl (local.get $tg) (i32.const 5))))
          (local.set $vc (f64.load (i32.add (local.get $rc) (i32.shl (i32.load offset=8 (local.get $nc)) (i32.const 3)))))
          (local.set $cat (i32.load offset=24 (local.get $nc)))
          (if (f64.ne (local.get $vc) (local.get $vc))
            (then (local.set $tg (select (i32.load offset=12 (local.get $nc)) (i32.load offset=16 (local.get $nc)) (i32.load offset=20 (local.get $nc)))))
            (else
              (if (i32.lt_s (local.get $cat) (i32.const 0))
                (then (local.set $tg (select (i32.load offset=12 (local.get $nc)) (i32.load offset=16 (local.get $nc)) (f64.le (local.get $vc) (f64.load (local.get $nc))))))
                (else (local.set $tg (call $category (local.get $nc) (local.get $vc) (local.get $bits) (local.get $cat)))))))
          (local.set $nc (i32.add (local.get $nodes) (i32.shl (local.get $tg) (i32.const 5))))
          (local.set $vd (f64.load (i32.add (local.get $rd) (i32.shl (i32.load offset=8 (local.get $nd)) (i32.const 3)))))
          (local.set $cat (i32.load offset=24 (local.get $nd)))
          (if (f64.ne (local.get $vd) (local.get $vd))
            (then (local.set $tg (select (i32.load offset=12 (local.get $nd)) (i32.load offset=16 (local.get $nd)) (i32.load offset=20 (local.get $nd)))))
            (else
              (if (i32.lt_s (local.get $cat) (i32.const 0))
                (then (local.set $tg (select (i32.load offset=12 (local.get $nd)) (i32.load offset=16 (local.get $nd)) (f64.le (local.get $vd) (f64.load (local.get $nd))))))
                (else (local.set $tg (call $category (local.get $nd) (local.get $vd) (local.get $bits) (local.get $cat)))))))
          (local.set $nd (i32.add (local.get $nodes) (i32.shl (local.get $tg) (i32.const 5))))
          (local.set $ve (f64.load (i32.add (local.get $re) (i32.shl (i32.load offset=8 (local.get $ne)) (i32.const 3)))))
          (local.set $cat (i32.load offset=24 (local.get $ne)))
          (if (f64.ne (local.get $ve) (local.get $ve))
            (then (local.set $tg (select (i32.load offset=12 (local.get $ne)) (i32.load offset=16 (local.get $ne)) (i32.load offset=20 (local.get $ne)))))
            (else
              (if (i32.lt_s (local.get $cat) (i32.const 0))
                (then (local.set $tg (select (i32.load offset=12 (local.get $ne)) (i32.load offset=16 (local.get $ne)) (f64.le (local.get $ve) (f64.load (local.get $ne))))))
                (else (local.set $tg (call $category (local.get $ne) (local.get $ve) (local.get $bits) (local.get $cat)))))))
          (local.set $ne (i32.add (local.get $nodes) (i32.shl (local.get $tg) (i32.const 5))))
          (local.set $vf (f64.load (i32.add (local.get $rf) (i32.shl (i32.load offset=8 (local.get $nf)) (i32.const 3)))))
          (local.set $cat (i32.load offset=24 (local.get $nf)))
          (if (f64.ne (local.get $vf) (local.get $vf))
            (then (local.set $tg (select (i32.load offset=12 (local.get $nf)) (i32.load offset=16 (local.get $nf)) (i32.load offset=20 (local.get $nf)))))
            (else
              (if (i32.lt_s (local.get $cat) (i32.const 0))
                (then (local.set $tg (select (i32.load offset=12 (local.get $nf)) (i32.load offset=16 (local.get $nf)) (f64.le (local.get $vf) (f64.load (local.get $nf))))))
                (else (local.set $tg (call $category (local.get $nf) (local.get $vf) (local.get $bits) (local.get $cat)))))))
          (local.set $nf (i32.add (local.get $nodes) (i32.shl (local.get $tg) (i32.const 5))))
          (local.set $vg (f64.load (i32.add (local.get $rg) (i32.shl (i32.load offset=8 (local.get $ng)) (i32.const 3)))))
          (local.set $cat (i32.load offset=24 (local.get $ng)))
          (if (f64.ne (local.get $vg) (local.get $vg))
            (then (local.set $tg (select (i32.load offset=12 (local.get $ng)) (i32.load offset=16 (local.get $ng)) (i32.load offset=20 (local.get $ng)))))
            (else
              (if (i32.lt_s (local.get $cat) (i32.const 0))
                (then (local.set $tg (select (i32.load offset=12 (local.get $ng)) (i32.load offset=16 (local.get $ng)) (f64.le (local.get $vg) (f64.load (local.get $ng))))))
                (else (local.set $tg (call $category (local.get $ng) (local.get $vg) (local.get $bits) (local.get $cat)))))))
          (local.set $ng (i32.add (local.get $nodes) (i32.shl (local.get $tg) (i32.const 5))))
          (local.set $vh (f64.load (i32.add (local.get $rh) (i32.shl (i32.load offset=8 (local.get $nh)) (i32.const 3)))))
          (local.set $cat (i32.load offset=24 (local.get $nh)))
          (if (f64.ne (local.get $vh) (local.get $vh))
            (then (local.set $tg (select (i32.load offset=12 (local.get $nh)) (i32.load offset=16 (local.get $nh)) (i32.load offset=20 (local.get $nh)))))
            (else
              (if (i32.lt_s (local.get $cat) (i32.const 0))
                (then (local.set $tg (select (i32.load offset=12 (local.get $nh)) (i32.load offset=16 (local.get $nh)) (f64.le (local.get $vh) (f64.load (local.get $nh))))))
                (else (local.set $tg (call $category (local.get $nh) (local.get $vh) (local.get $bits) (local.get $cat)))))))
          (local.set $nh (i32.add (local.get $nodes) (i32.shl (local.get $tg) (i32.const 5))))
            (br_if $walk (i32.lt_s (i32.or (i32.or (i32.or (i32.or (i32.or (i32.or (i32.or (i32.load offset=28 (local.get $na)) (i32.load offset=28 (local.get $nb))) (i32.load offset=28 (local.get $nc))) (i32.load offset=28 (local.get $nd))) (i32.load offset=28 (local.get $ne))) (i32.load offset=28 (local.get $nf))) (i32.load offset=28 (local.get $ng))) (i32.load offset=28 (local.get $nh))) (i32.const 0))))
        (call $addLeaf (local.get $na) (local.get $oa) (local.get $values) (local.get $outputsOf) (local.get $t) (local.get $k))
        (call $addLeaf (local.get $nb) (local.get $ob) (local.get $values) (local.get $outputsOf) (local.get $t) (local.get $k))
        (call $addLeaf (local.get $nc) (local.get $oc) (local.get $values) (local.get $outputsOf) (local.get $t) (local.get $k))
        (call $addLeaf (local.get $nd) (local.get $od) (local.get $values) (local.get $outputsOf) (local.get $t) (local.get $k))
        (call $addLeaf (local.get $ne) (local.get $oe) (local.get $values) (local.get $outputsOf) (local.get $t) (local.get $k))
        (call $addLeaf (local.get $nf) (local.get $of) (local.get $values) (local.get $outputsOf) (local.get $t) (local.get $k))
        (call $addLeaf (local.get $ng) (local.get $og) (local.get $values) (local.get $outputsOf) (local.get $t) (local.get $k))
        (call $addLeaf (local.get $nh) (local.get $oh) (local.get $values) (local.get $outputsOf) (local.get $t) (local.get $k))
          (local.set $t (i32.add (local.get $t) (i32.const 1)))
          (br_if $treeLoop (i32.lt_u (local.get $t) (local.get $trees))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br_if $rows (i32.lt_u (local.get $i) (local.get $quads)))))
    ;; The remaining rows, one at a time.
    (block $done
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (loop $rest
        (local.set $ra (i32.add (local.get $x) (i32.shl (i32.mul (local.get $i) (local.get $p)) (i32.const 3))))
        (local.set $oa (i32.add (local.get $out) (i32.shl (i32.mul (local.get $i) (local.get $k)) (i32.const 3))))
        (local.set $t (i32.const 0))
        (loop $treeLoop1
          (local.set $na (i32.add (local.get $nodes) (i32.shl (i32.load (i32.add (local.get $roots) (i32.shl (local.get $t) (i32.const 2)))) (i32.const 5))))
          (block $leaf
            (loop $walk1
              (br_if $leaf (i32.ge_s (i32.load offset=28 (local.get $na)) (i32.const 0)))
          ;; lane a
              (local.set $va (f64.load (i32.add (local.get $ra) (i32.shl (i32.load offset=8 (local.get $na)) (i32.const 3)))))
              (local.set $cat (i32.load offset=24 (local.get $na)))
              (if (f64.ne (local.get $va) (local.get $va))
                (then (local.set $tg (select (i32.load offset=12 (local.get $na)) (i32.load offset=16 (local.get $na)) (i32.load offset=20 (local.get $na)))))
                (else
                  (if (i32.lt_s (local.get $cat) (i32.const 0))
                    (then (local.set $tg (select (i32.load offset=12 (local.get $na)) (i32.load offset=16 (local.get $na)) (f64.le (local.get $va) (f64.load (local.get $na))))))
                    (else (local.set $tg (call $category (local.get $na) (local.get $va) (local.get $bits) (local.get $cat)))))))
              (local.set $na (i32.add (local.get $nodes) (i32.shl (local.get $tg) (i32.const 5))))
              (br $walk1)))
        (call $addLeaf (local.get $na) (local.get $oa) (local.get $values) (local.get $outputsOf) (local.get $t) (local.get $k))
          (local.set $t (i32.add (local.get $t) (i32.const 1)))
          (br_if $treeLoop1 (i32.lt_u (local.get $t) (local.get $trees))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $rest (i32.lt_u (local.get $i) (local.get $n)))))))
