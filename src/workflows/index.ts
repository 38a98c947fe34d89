export { migrateEntity } from './entity';
export { migrate } from './migration';
export { rollbackCompleted } from './rollback';
export { wiringCheck } from './wiring-check';
