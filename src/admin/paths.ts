// Where the admin API lives.
export const API_PREFIX = '/api/admin/v1';
