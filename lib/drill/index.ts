/** Recovery drills (point-in-time rebuilds into a scratch datastore) and logical backups. */
export { type DrillGap, type DrillOptions, type DrillReport, rebuildAt } from './rebuild';
export { BACKUP_FORMAT, BACKUP_VERSION, type BackupHeader, type BackupSummary, type BackupTrailer, restoreBackup, type RestoreOptions, type RestoreSummary, verifyBackup, writeBackup } from './backup';
export { ADAPTER_PACKAGES, freshAdapter, protectScratch, type ScratchDatastore, scratchDatastore } from './scratch';
export { committedPages, logPages, sameImage } from './document-pages';
