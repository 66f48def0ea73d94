// The console's YAML editor and diff view, bundled by build.sh into one IIFE
// (../static/vendor/editor.js) that defines `window.fengqiaoEditor`:
//
//   fengqiaoEditor.create(parent, doc, {onChange}) -> {view, getText, setText, setProblems}
//   fengqiaoEditor.merge(parent, before, after)    -> MergeView (read-only, side by side)
//
// A problem is {line, column, message, severity}: `line` is 1-based; `column` is 1-based
// and counts characters (code points, as Python does), 0 or absent meaning the whole line;
// `severity` is "error" or "warning" (anything else is shown as an error). Lines and
// columns outside the document are clamped to it, never thrown on.

import { basicSetup, minimalSetup, EditorView } from "codemirror";
import { yaml } from "@codemirror/lang-yaml";
import { lintGutter, setDiagnostics } from "@codemirror/lint";
import { MergeView } from "@codemirror/merge";
import { EditorState, RangeSetBuilder, StateEffect, StateField } from "@codemirror/state";
import { Decoration, lineNumbers } from "@codemirror/view";

const SEVERITIES = new Set(["error", "warning"]);

// The lines that carry a problem, as line decorations: `.cm-line.fq-problem-line` says
// which line is marked, where the lint gutter and underline only say that one is. Each
// problem is kept as the position where its diagnostic starts, mapped through edits the
// way the diagnostic's underline is (after text inserted there), so the two stay together.
const setProblemLines = StateEffect.define();

function lineDecorations(doc, marks) {
  const worst = new Map();
  for (const { pos, severity } of marks) {
    const from = doc.lineAt(pos).from;
    if (worst.get(from) !== "error") worst.set(from, severity);
  }
  const builder = new RangeSetBuilder();
  for (const from of [...worst.keys()].sort((a, b) => a - b)) {
    const cls = `fq-problem-line fq-problem-line-${worst.get(from)}`;
    builder.add(from, from, Decoration.line({ class: cls }));
  }
  return builder.finish();
}

const problemLines = StateField.define({
  create: () => ({ marks: [], deco: Decoration.none }),
  update(value, tr) {
    let marks = value.marks;
    for (const effect of tr.effects) {
      if (effect.is(setProblemLines)) marks = effect.value;
    }
    if (tr.docChanged) {
      marks = marks.map((m) => ({ pos: tr.changes.mapPos(m.pos, 1), severity: m.severity }));
    } else if (marks === value.marks) {
      return value;
    }
    return { marks, deco: lineDecorations(tr.state.doc, marks) };
  },
  provide: (field) => EditorView.decorations.from(field, (value) => value.deco),
});

const problemTheme = EditorView.baseTheme({
  "&light .fq-problem-line-error": { backgroundColor: "#ff00000d" },
  "&light .fq-problem-line-warning": { backgroundColor: "#ffa5001a" },
  "&dark .fq-problem-line-error": { backgroundColor: "#ff000026" },
  "&dark .fq-problem-line-warning": { backgroundColor: "#ffa50026" },
});

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

// The UTF-16 offset in `text` of the code point at 0-based index `index`.
function codePointOffset(text, index) {
  let offset = 0;
  for (const ch of text) {
    if (index-- <= 0) break;
    offset += ch.length;
  }
  return offset;
}

// A problem as a @codemirror/lint diagnostic on `doc`, its line and column clamped.
function toDiagnostic(doc, problem) {
  const number = clamp(Math.trunc(Number(problem.line)) || 1, 1, doc.lines);
  const line = doc.line(number);
  const column = Math.trunc(Number(problem.column)) || 0;
  let from = line.from;
  if (column > 0) {
    from = line.from + codePointOffset(line.text, column - 1);
    // At or past the end of a non-empty line: mark its last character, not nothing.
    if (from >= line.to && line.length > 0) from = line.to - 1;
  }
  const severity = SEVERITIES.has(problem.severity) ? problem.severity : "error";
  return { from, to: line.to, severity, message: String(problem.message ?? "") };
}

// The effects that show `problems` on `state`: the diagnostics and their lines' marks.
function problemEffects(state, problems) {
  const diagnostics = (problems || []).map((p) => toDiagnostic(state.doc, p));
  const marks = diagnostics.map((d) => ({ pos: d.from, severity: d.severity }));
  return [].concat(setDiagnostics(state, diagnostics).effects, setProblemLines.of(marks));
}

function create(parent, doc, options = {}) {
  const onChange = options.onChange;
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: doc ?? "",
      extensions: [
        basicSetup,
        yaml(),
        lintGutter(),
        EditorView.lineWrapping,
        problemLines,
        problemTheme,
        EditorView.updateListener.of((update) => {
          if (update.docChanged && onChange) onChange(update.state.doc.toString());
        }),
      ],
    }),
  });
  return {
    view,
    getText: () => view.state.doc.toString(),
    // Replaces the whole document; its problems are cleared, as they were about the old text.
    setText(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text ?? "" } });
      view.dispatch({ effects: problemEffects(view.state, []) });
    },
    setProblems(problems) {
      view.dispatch({ effects: problemEffects(view.state, problems) });
    },
  };
}

function merge(parent, before, after) {
  const side = (doc) => ({
    doc: doc ?? "",
    extensions: [
      minimalSetup,
      lineNumbers(),
      yaml(),
      EditorView.lineWrapping,
      EditorView.editable.of(false),
      EditorState.readOnly.of(true),
    ],
  });
  return new MergeView({ a: side(before), b: side(after), parent });
}

window.fengqiaoEditor = { create, merge };
