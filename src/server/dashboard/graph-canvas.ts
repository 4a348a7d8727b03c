/**
 * The drawn graph (cytoscape.js, bundled and loaded when the graph view first shows): souls as nodes,
 * relations as labelled edges; new elements fade in next to the node that points at them, and a node
 * pulses when a live change arrives for it. Browser code: no node:* imports.
 */
import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Core, ElementDefinition, NodeSingular } from 'cytoscape';

export interface CanvasNode { id: string; expanded: boolean }
export interface CanvasEdge { id: string; source: string; target: string; label: string }

const label = (soul: string) => (soul.length > 26 ? '…' + soul.slice(-25) : soul);

const STYLE = [
  { selector: 'node', style: { 'background-color': '#fff', 'border-width': 2, 'border-color': '#4263eb', label: 'data(label)', 'font-size': 13, 'font-family': 'system-ui, sans-serif', color: '#1d2330', 'text-valign': 'bottom', 'text-margin-y': 5, width: 22, height: 22, 'text-background-color': '#fff', 'text-background-opacity': 0.85, 'text-background-padding': '2px' } },
  { selector: 'node.expanded', style: { 'background-color': '#4263eb' } },
  { selector: 'node.selected', style: { 'border-color': '#f59f00', 'border-width': 4, width: 28, height: 28 } },
  { selector: 'node.pulse', style: { 'background-color': '#12b886', 'border-color': '#12b886' } },
  { selector: 'edge', style: { width: 1.5, 'line-color': '#9aa5ba', 'target-arrow-color': '#9aa5ba', 'target-arrow-shape': 'triangle', 'curve-style': 'bezier', label: 'data(label)', 'font-size': 11, color: '#6b7383', 'text-rotation': 'autorotate', 'text-background-color': '#fff', 'text-background-opacity': 0.9, 'text-background-padding': '1px' } },
] as const;

/** Draw `nodes` and `edges`; `pulse` = a soul that just changed (with a counter so repeats pulse again). */
export function GraphCanvas(p: { nodes: CanvasNode[]; edges: CanvasEdge[]; selected?: string; pulse?: { soul: string; n: number }; onSelect(soul: string): void }) {
  const box = useRef<HTMLDivElement>(null);
  const cy = useRef<Core | undefined>(undefined);
  const [ready, setReady] = useState(false);
  const [error, setError] = useState<string>();
  const onSelect = useRef(p.onSelect);
  onSelect.current = p.onSelect;

  useEffect(() => {
    let dead = false;
    import('cytoscape').then(({ default: cytoscape }) => {
      if (dead || !box.current) return;
      const c = cytoscape({ container: box.current, style: STYLE as never, minZoom: 0.3, maxZoom: 3, wheelSensitivity: 0.3, boxSelectionEnabled: false });
      c.on('tap', 'node', (ev) => onSelect.current((ev.target as NodeSingular).id()));
      cy.current = c;
      // the container changes size with the window (and from 0 while the view is hidden): keep the drawing fitted
      const ro = new ResizeObserver(() => { c.resize(); if (c.nodes().length) c.fit(undefined, 40); if (c.zoom() > 1.6) c.zoom({ level: 1.6, renderedPosition: { x: c.width() / 2, y: c.height() / 2 } }); });
      ro.observe(box.current);
      c.one('destroy', () => ro.disconnect());
      // a handle for the browser tests and for poking at the graph from the devtools console
      (window as unknown as Record<string, unknown>).plexusGraph = c;
      setReady(true);
    }, (e: Error) => setError(`graph drawing failed to load: ${e.message}`));
    return () => { dead = true; cy.current?.destroy(); cy.current = undefined; };
  }, []);

  useEffect(() => {
    const c = cy.current;
    if (!c) return;
    const wantNodes = new Map(p.nodes.map((n) => [n.id, n]));
    const wantEdges = new Map(p.edges.map((e) => [e.id, e]));
    c.edges().forEach((el) => { if (!wantEdges.has(el.id())) el.remove(); });
    c.nodes().forEach((el) => { if (!wantNodes.has(el.id())) el.remove(); });
    const added: ElementDefinition[] = [];
    for (const n of p.nodes) {
      if (c.getElementById(n.id).nonempty()) continue;
      // a new node starts next to the first node that points at it, so it grows out of its parent
      const from = p.edges.find((e) => e.target === n.id && c.getElementById(e.source).nonempty());
      const at = from ? c.getElementById(from.source).position() : { x: c.width() / 2, y: c.height() / 2 };
      added.push({ group: 'nodes', data: { id: n.id, label: label(n.id) }, position: { x: at.x + (Math.random() - 0.5) * 40, y: at.y + (Math.random() - 0.5) * 40 } });
    }
    for (const e of p.edges) if (c.getElementById(e.id).empty()) added.push({ group: 'edges', data: { id: e.id, source: e.source, target: e.target, label: e.label } });
    if (added.length) {
      const els = c.add(added);
      els.style('opacity', 0);
      els.animate({ style: { opacity: 1 } }, { duration: 450 });
    }
    c.nodes().forEach((n) => {
      n.toggleClass('expanded', wantNodes.get(n.id())?.expanded ?? false);
      n.toggleClass('selected', n.id() === p.selected);
    });
    if (added.length) {
      c.layout({ name: 'cose', animate: true, animationDuration: 400, randomize: false, fit: true, padding: 40, nodeRepulsion: () => 120_000, idealEdgeLength: () => 110, nodeOverlap: 40, gravity: 0.4, numIter: 1500, componentSpacing: 80 } as never).run();
      if (c.zoom() > 1.6) c.zoom({ level: 1.6, renderedPosition: { x: c.width() / 2, y: c.height() / 2 } });
    }
  });

  useEffect(() => {
    const n = p.pulse && cy.current?.getElementById(p.pulse.soul);
    if (!n || n.empty()) return;
    n.addClass('pulse');
    const t = setTimeout(() => n.removeClass('pulse'), 700);
    return () => clearTimeout(t);
  }, [p.pulse?.n]);

  return h('div', { class: 'graph-canvas-wrap' },
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    h('div', { ref: box, class: 'graph-canvas', 'data-testid': 'graph-canvas', 'data-ready': ready ? '1' : '0', 'data-nodes': String(p.nodes.length), 'data-edges': String(p.edges.length) }),
    p.nodes.length === 0 ? h('div', { class: 'graph-empty muted' }, 'Pick a soul on the left (or open one by name) to draw it and its relations.') : null);
}
