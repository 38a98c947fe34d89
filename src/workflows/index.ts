export { migrateEntity } from './entity';
export { migrate } from './migration';
export { wiringCheck } from './wiring-check';
