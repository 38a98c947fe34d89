export { migrate } from './migration';
export { wiringCheck } from './wiring-check';
