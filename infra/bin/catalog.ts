// `cdk synth` / `cdk deploy` entry: the nag checks always run, so an unacknowledged finding stops both.
import { buildApp } from '../lib/app.js'

buildApp({ nag: true }).app.synth()
