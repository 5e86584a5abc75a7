"""Local files to URLs: DashScope temporary storage or the user's own OSS bucket."""
