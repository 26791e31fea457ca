-- Effects of 20250728000000 (add_pack_name_to_deploy_projects).
ALTER TABLE deploy.projects ADD COLUMN pack_name text;
