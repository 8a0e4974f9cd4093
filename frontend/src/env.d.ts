// Stylesheets are imported for their side effect; rollup extracts them to app-<hash>.css.
declare module '*.css';
