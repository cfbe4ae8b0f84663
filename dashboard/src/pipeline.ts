// What the dashboard asks Tally about the pipeline (the `pipeline` query), and the choices it
// makes from it when the user has made none.

export interface FenceInfo {
  name: string;
  kind: 'circle' | 'polygon';
  lat: number | null;
  lon: number | null;
  radiusMeters: number | null;
  polygon: number[][] | null;
}

export interface GeoIndexInfo {
  name: string;
  members: number;
  fences: FenceInfo[];
}

export interface FeatureInfo {
  name: string;
  source: string;
  entity: string;
  aggregation: string;
  windows: string[];
}

export interface PipelineInfo {
  sources: { name: string; fencesOf: string | null }[];
  features: FeatureInfo[];
  leaderboards: { name: string; mode: string; period: string }[];
  geoIndexes: GeoIndexInfo[];
}

export const PIPELINE_QUERY = /* GraphQL */ `
  query DashboardPipeline {
    pipeline {
      sources { name fencesOf }
      features { name source entity aggregation windows }
      leaderboards { name mode period }
      geoIndexes { name members fences { name kind lat lon radiusMeters polygon } }
    }
  }
`;

/** A windowed value to chart: one feature, one window, one entity. */
export interface ChartSpec {
  feature: string;
  window: string;
  entity: string;
}

/** A threshold alert stream: entities whose window value crosses above `above`. */
export interface AlertSpec {
  feature: string;
  window: string;
  above: number;
}

/** Charts shown before the user picks any: each fence's entry count, for fence-event features keyed by fence. */
export function defaultCharts(p: PipelineInfo): ChartSpec[] {
  const fenceSources = new Map(p.sources.filter((s) => s.fencesOf !== null).map((s) => [s.name, s.fencesOf!]));
  const charts: ChartSpec[] = [];
  for (const f of p.features) {
    const index = fenceSources.get(f.source);
    if (index === undefined || f.entity !== 'fence' || f.windows.length === 0) continue;
    for (const fence of p.geoIndexes.find((g) => g.name === index)?.fences ?? []) charts.push({ feature: f.name, window: f.windows[0], entity: fence.name });
  }
  return charts.slice(0, 4);
}

/** Alerts watched before the user picks any: the first event count (not of fence events), over its shortest window. */
export function defaultAlerts(p: PipelineInfo): AlertSpec[] {
  const derived = new Set(p.sources.filter((s) => s.fencesOf !== null).map((s) => s.name));
  const f = p.features.find((x) => x.aggregation === 'count' && !derived.has(x.source) && x.windows.length > 0);
  return f ? [{ feature: f.name, window: f.windows[0], above: DEFAULT_ALERT_ABOVE }] : [];
}

/** Events per shortest window that make a count worth a look in the demo (bursts of 10+ card transactions a minute). */
export const DEFAULT_ALERT_ABOVE = 8;
