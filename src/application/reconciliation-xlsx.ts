// The reconciliation report as rows of cells (issue #14 item 5), for the XLSX export: the rows the
// CSV export writes, in the same order with the same cells.
export { reconciliationRows, type ReportCell } from './reconciliation-report.js';
