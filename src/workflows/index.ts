export { wiringCheck } from './wiring-check';
